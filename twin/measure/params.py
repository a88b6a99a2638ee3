"""The physical parameters a calibration may fit: each a hardware field a run can override, with
bounds that keep it physical and a sentence saying what it is.

Kept to fields that enter the twin's cost of a step directly (twin.serving.cost): a parameter
that changes nothing a request sees would only ever be reported as undetermined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin.config import ServerSpec
from twin.errors import InvalidSpec, quote


@dataclass(frozen=True)
class Param:
    key: str  # the run override it sets: chip.*, server.*, link.*
    lo: float
    hi: float
    meaning: str

    def value_in(self, server: ServerSpec) -> float:
        """The parameter's value in a built server spec (its default before fitting)."""
        head, *path = self.key.split(".")
        obj = server if head == "server" else getattr(server, head)
        for name in path:
            obj = getattr(obj, name)
        return float(obj)

    def check(self, value: float, where: str) -> None:
        if not (math.isfinite(value) and self.lo <= value <= self.hi):
            raise InvalidSpec(where, f"{self.key} = {value:g} is outside its physical bounds "
                                     f"[{self.lo:g}, {self.hi:g}] ({self.meaning})")

    # Fitted in log space: bounds span decades, and a relative step means the same everywhere.
    def to_unit(self, value: float) -> float:
        return math.log(value / self.lo) / math.log(self.hi / self.lo)

    def from_unit(self, u: float) -> float:
        return self.lo * (self.hi / self.lo) ** min(max(u, 0.0), 1.0)


PARAMS = {p.key: p for p in (
    Param("chip.kernel_launch_s", 0.5e-6, 200e-6,
          "time a launch-bound kernel of a layer costs: launch, sync, fill and drain"),
    Param("server.host.step_overhead_s", 1e-7, 20e-3,
          "the serving framework's host time per batch step: scheduling, sampling call, Python"),
    Param("chip.memory.sustained_efficiency", 0.2, 1.0,
          "the share of peak memory bandwidth a long weight stream sustains"),
    Param("chip.clock_ghz", 0.2, 3.0, "the chip's clock under load (vector work and cycle-counted steps)"),
    Param("link.hop_latency_s", 1e-8, 1e-4, "latency of one ring step of a collective over the chips' link"),
    Param("link.sync_cycles", 1.0, 1e5, "ESL end-of-gather synchronisation, in chip clock cycles"),
)}


def param(name: str) -> Param:
    if name not in PARAMS:
        raise InvalidSpec("--fit", f"unknown parameter {quote(name)} (fittable: {', '.join(PARAMS)})")
    return PARAMS[name]
