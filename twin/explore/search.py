"""The highest arrival rate whose SLO attainment stays at or above a target (goodput).

`attainment(rate)` is assumed to fall as the rate rises (more load, more queueing). The search
brackets the answer by doubling or halving from a first guess, then bisects until the bracket is
within `rel_tol` of its upper end. Pure: the caller decides how a rate is evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, TypeVar

from twin.serving.request import TraceRequest

T = TypeVar("T")


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


def sustained_attainment(summary: dict, offered: int, rate: float) -> float:
    """The share of requests that met the SLO, capped by the share of the offered rate the cluster served.

    A short trace at a huge rate is one burst that a big cluster may drain within the SLO; that
    rate is not sustainable. Served rate = finished requests over the time from the first arrival
    to the last completion, so a cluster that falls behind the arrivals fails the test too.
    """
    done = summary["requests"]["done"]
    slo = summary["slo"]
    completed = slo.get("attained_of_completed", slo["attained"])  # summaries stored before it was split
    met = (completed or 0.0) * done / max(offered, 1)  # rejected and unfinished requests missed it
    served = done / summary["makespan_s"] if summary["makespan_s"] > 0 else 0.0
    return min(met, served / rate) if rate > 0 else met


def search_goodput(run: Callable[[float], tuple[T, dict | None]], requests: list[TraceRequest],
                   target: float) -> tuple[RateSearch, T]:
    """Goodput of `requests` on a twin: `run(rate)` replays them at `rate` and returns (its result, its
    summary, or None if it did not complete). The result kept is the best rate's, or, when no rate
    meets the target, the first try's (the trace at its own rate)."""
    tries: dict[float, tuple[T, dict | None]] = {}

    def attainment(rate: float) -> float:
        tries[rate] = result, summary = run(rate)
        return 0.0 if summary is None else sustained_attainment(summary, len(requests), rate)

    first = mean_rate(requests)
    search = find_max_rate(attainment, first, target)
    return search, tries.get(search.rate, tries[first])[0]


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
