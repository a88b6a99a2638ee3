"""The highest arrival rate whose SLO attainment stays at or above a target (goodput).

`attainment(rate)` is assumed to fall as the rate rises (more load, more queueing). The search
brackets the answer by doubling or halving from a first guess, then bisects until the bracket is
within `rel_tol` of its upper end. Pure: the caller decides how a rate is evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from twin.serving.request import TraceRequest


@dataclass
class RateSearch:
    rate: float  # the highest rate found that meets the target (0 if even the lowest does not)
    evaluations: list[tuple[float, float]] = field(default_factory=list)  # (rate, attainment) in order


def find_max_rate(attainment: Callable[[float], float], first: float, target: float = 0.9,
                  rel_tol: float = 0.02, max_steps: int = 40) -> RateSearch:
    search = RateSearch(0.0)

    def ok(rate: float) -> bool:
        value = attainment(rate)
        search.evaluations.append((rate, value))
        return value is not None and value >= target

    lo, hi = _bracket(ok, first, max_steps // 2)
    if lo is None:
        return search
    while hi is not None and (hi - lo) > rel_tol * hi and len(search.evaluations) < max_steps:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    search.rate = lo
    return search


def _bracket(ok: Callable[[float], bool], first: float, limit: int) -> tuple[float | None, float | None]:
    """(a rate that meets the target, a higher one that does not), or (None, lowest tried)."""
    rate = first
    if ok(rate):
        for _ in range(limit):
            if not ok(rate * 2):
                return rate, rate * 2
            rate *= 2
        return rate, None  # still meeting the target after `limit` doublings: report the last one
    for _ in range(limit):
        rate /= 2
        if ok(rate):
            return rate, rate * 2
    return None, rate


def at_rate(requests: list[TraceRequest], rate_rps: float) -> list[TraceRequest]:
    """The same requests with arrivals rescaled so that their mean rate is `rate_rps`."""
    if len(requests) < 2 or rate_rps <= 0:
        return list(requests)
    t0 = requests[0].arrival_s
    span = requests[-1].arrival_s - t0
    scale = (len(requests) - 1) / rate_rps / span if span > 0 else 1.0
    from dataclasses import replace
    return [replace(r, arrival_s=(r.arrival_s - t0) * scale) for r in requests]


def mean_rate(requests: list[TraceRequest]) -> float:
    span = requests[-1].arrival_s - requests[0].arrival_s if len(requests) > 1 else 0.0
    return (len(requests) - 1) / span if span > 0 else 1.0
