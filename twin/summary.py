"""A run's summary: latency percentiles, throughput, SLO attainment and hardware utilisation."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twin.errors import InvalidSpec
from twin.sketch import Quantiles

if TYPE_CHECKING:
    from twin.metrics import RequestRecord


@dataclass(frozen=True)
class Slo:
    ttft_s: float | None = None
    tpot_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("ttft_s", "tpot_s"):
            value = getattr(self, name)
            # NaN fails every comparison, so a NaN or negative target would be met by nothing, silently.
            if value is not None and not (math.isfinite(value) and value > 0):
                raise InvalidSpec(f"slo.{name}", f"must be a finite number of seconds > 0, got {value}")

    def __reduce__(self) -> tuple:
        # Pickled (and copied) by its constructor: compiled, a frozen dataclass cannot be restored field by field.
        return (Slo, (self.ttft_s, self.tpot_s))


def percentiles(q: Quantiles) -> dict[str, float | None]:
    if not q.count:
        return {"mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = q.percentiles([50, 90, 99])
    return {"mean": q.total / q.count, "p50": p50, "p90": p90, "p99": p99, "max": q.max}


class RequestTally:
    """A run's request figures, updated record by record so the records themselves need not be kept.

    Counts, sums, extremes and SLO attainment are exact; percentiles are exact up to
    twin.sketch.EXACT_LIMIT requests and within twin.sketch.RELATIVE_ERROR beyond.
    """

    def __init__(self, slo: Slo = Slo()):
        self.slo = slo
        self.total = self.done = self.rejected = self.preempted = self.attained = 0
        self.start, self.end = float("inf"), -float("inf")
        self.input_tokens = self.output_tokens = 0
        self.ttft, self.tpot, self.e2e = Quantiles(), Quantiles(), Quantiles()

    def add(self, r: RequestRecord) -> None:
        _, _, state, arrival, inputs, outputs, first, finish, preemptions, _ = r  # one unpacking: once per request
        self.total += 1
        if arrival < self.start:
            self.start = arrival
        self.rejected += state == "rejected"
        self.preempted += preemptions > 0
        if state != "done":
            return
        assert first is not None and finish is not None  # a finished request has both times
        self.done += 1
        if finish > self.end:
            self.end = finish
        self.input_tokens += inputs
        self.output_tokens += outputs
        ttft = first - arrival  # RequestRecord.ttft_s and e2e_s, for a finished request
        self.ttft.add(ttft)
        self.e2e.add(finish - arrival)
        tpot = r.tpot_s
        if tpot is not None:
            self.tpot.add(tpot)
        slo = self.slo
        self.attained += ((slo.ttft_s is None or ttft <= slo.ttft_s) and
                          (slo.tpot_s is None or tpot is None or tpot <= slo.tpot_s))

    def slo_attainment(self) -> dict[str, float | None]:
        """`attained`: the share of every recorded request that met the SLO (a request rejected as too long,
        or otherwise not served, missed it); `attained_of_completed`: the share of those that finished."""
        slo = self.slo
        if not self.total or (slo.ttft_s is None and slo.tpot_s is None):
            return {"ttft_s": slo.ttft_s, "tpot_s": slo.tpot_s, "attained": None, "attained_of_completed": None}
        return {"ttft_s": slo.ttft_s, "tpot_s": slo.tpot_s, "attained": self.attained / self.total,
                "attained_of_completed": self.attained / self.done if self.done else None}

    def summary(self) -> dict:
        start = self.start if self.total else 0.0
        end = self.end if self.done else start
        span = max(end - start, 1e-12)
        return {
            "requests": {"total": self.total, "done": self.done, "rejected": self.rejected,
                         "preempted": self.preempted},
            "makespan_s": end - start,
            "ttft_s": percentiles(self.ttft),
            "tpot_s": percentiles(self.tpot),
            "e2e_s": percentiles(self.e2e),
            "throughput": {"output_tokens_per_s": self.output_tokens / span, "requests_per_s": self.done / span,
                           "input_tokens_per_s": self.input_tokens / span, "output_tokens": self.output_tokens},
            "slo": self.slo_attainment(),
        }


def dig(summary: dict | None, *path: str) -> Any:
    """The figure at `path` in a run summary (nested dicts), None where any step is missing."""
    node: Any = summary  # any type along the way: compiled, a `dict | None` local refuses the figure itself
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def request_summary(records: Iterable[RequestRecord], slo: Slo) -> dict:
    tally = RequestTally(slo)
    for r in records:
        tally.add(r)
    return tally.summary()
