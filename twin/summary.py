"""A run's summary: latency percentiles, throughput, SLO attainment and hardware utilisation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin.errors import InvalidSpec
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


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    arr = np.asarray(values, dtype=float)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {"mean": float(arr.mean()), "p50": float(p50), "p90": float(p90), "p99": float(p99),
            "max": float(arr.max())}


def slo_attainment(done: list[RequestRecord], slo: Slo) -> dict[str, float | None]:
    if not done or (slo.ttft_s is None and slo.tpot_s is None):
        return {"ttft_s": slo.ttft_s, "tpot_s": slo.tpot_s, "attained": None}
    ok = 0
    for r in done:
        ttft_ok = slo.ttft_s is None or r.ttft_s <= slo.ttft_s
        tpot_ok = slo.tpot_s is None or r.tpot_s is None or r.tpot_s <= slo.tpot_s
        ok += ttft_ok and tpot_ok
    return {"ttft_s": slo.ttft_s, "tpot_s": slo.tpot_s, "attained": ok / len(done)}


def request_summary(records: list[RequestRecord], slo: Slo) -> dict:
    done = [r for r in records if r.state == "done"]
    start = min((r.arrival_s for r in records), default=0.0)
    end = max((r.finish_s for r in done), default=start)
    span = max(end - start, 1e-12)
    out_tokens = sum(r.output_tokens for r in done)
    return {
        "requests": {"total": len(records), "done": len(done),
                     "rejected": sum(r.state == "rejected" for r in records),
                     "preempted": sum(r.preemptions > 0 for r in records)},
        "makespan_s": end - start,
        "ttft_s": percentiles([r.ttft_s for r in done]),
        "tpot_s": percentiles([r.tpot_s for r in done if r.tpot_s is not None]),
        "e2e_s": percentiles([r.e2e_s for r in done]),
        "throughput": {"output_tokens_per_s": out_tokens / span, "requests_per_s": len(done) / span,
                       "input_tokens_per_s": sum(r.input_tokens for r in done) / span,
                       "output_tokens": out_tokens},
        "slo": slo_attainment(done, slo),
    }
