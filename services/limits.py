"""What one run may ask for, checked before any work starts (CLI, controller and cluster replicas).

A request cannot raise a limit: whoever runs the service (or the CLI) does, through the
environment, so a hostile or mistaken client cannot take a machine's memory. A run over
a limit gets CapacityExceeded (RESOURCE_EXHAUSTED over gRPC, a one-line error in the CLI)
naming the limit and the variable that raises it. Defaults come from measurement: a
replay holds about 1.7 kB per request (200,000 synthetic requests: 340 MB peak), and a
1,024-chip cluster builds in 0.15 s and 35 MB.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

from twin.errors import CapacityExceeded, InvalidSpec
from twin.replay import RunSpec
from twin.traces import LoadedTrace, parse_synthetic

SYNTHETIC = "synthetic:"


@dataclass(frozen=True)
class RunLimits:
    max_chips: int = 1024  # chips in one run's cluster (servers x chips per server)
    max_requests: int = 1_000_000  # requests replayed by one run (after window/sample/limit)
    max_synthetic_requests: int = 1_000_000  # requests a synthetic: source may generate (n=)
    max_records_in_memory: int = 2_000_000  # request records held by the runs in flight on a controller

    @classmethod
    def from_env(cls) -> RunLimits:
        """Each field from TWIN_<FIELD> when set, e.g. TWIN_MAX_CHIPS=4096."""
        values = {}
        for f in fields(cls):
            text = os.environ.get(env_name(f.name))
            if text:
                try:
                    values[f.name] = int(text)
                except ValueError:
                    raise InvalidSpec(env_name(f.name), f"must be a whole number, got {text[:40]!r}") from None
        return cls(**values)

    def check_spec(self, spec: RunSpec) -> None:
        """Chips the spec's cluster would build (raises UnknownName for an unknown server)."""
        chips = spec.servers * spec.server_spec().chips
        self._check("max_chips", chips, f"the cluster has {chips:,} chips ({spec.servers:,} servers of "
                                        f"{chips // max(spec.servers, 1)})")

    def check_source(self, source: str) -> None:
        """A synthetic source's request count, before it is generated."""
        if not source.startswith(SYNTHETIC):
            return
        spec = parse_synthetic(source)
        # With duration_s and no n, the process generates about rate x duration requests.
        n = spec.n if spec.n is not None else math.ceil(spec.rate_rps * spec.duration_s)
        self._check("max_synthetic_requests", n, f"the synthetic source asks for about {n:,} requests")

    def check_trace(self, trace: LoadedTrace) -> None:
        self.check_requests(len(trace.requests))

    def check_requests(self, n: int) -> None:
        self._check("max_requests", n, f"the run would replay {n:,} requests")

    def check_in_memory(self, held: int, more: int) -> None:
        self._check("max_records_in_memory", held + more,
                    f"runs in flight hold {held:,} request records and this one adds {more:,}")

    def _check(self, name: str, value: int, what: str) -> None:
        limit = getattr(self, name)
        if value > limit:
            raise CapacityExceeded(f"{what}; the limit is {limit:,} ({name}: set {env_name(name)} in the "
                                   "environment of the service or CLI to raise it)")


def env_name(field: str) -> str:
    return f"TWIN_{field.upper()}"
