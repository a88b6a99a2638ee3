"""One sweep point, run in a worker process: a replay, or a bisection for the highest SLO-meeting rate.

Top-level and free of shared state so that a process pool can pickle it; the parent stores what
it returns (the point's records, series, summary and components) as the point's child run.
"""

from __future__ import annotations

from twin.explore.search import at_rate, find_max_rate, mean_rate
from twin.replay import RunSpec, replay
from twin.serving.request import TraceRequest
from twin.sim import component_figures


def _replay(spec: RunSpec, requests: list[TraceRequest]) -> dict:
    sim = spec.build()
    records, series = [], []
    result = replay(sim, requests, spec.slo, sink=lambda r, s: (records.extend(r), series.extend(s)))
    components = component_figures(sim)
    return {"status": result.status, "error": result.error, "summary": result.summary, "records": records,
            "series": series, "components": components, "spec": spec.to_dict()}


def ignore_sigint() -> None:
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_indexed(task: tuple) -> tuple[int, dict]:
    index, *args = task
    return index, run_point(*args)


def run_point(spec_dict: dict, requests: list[TraceRequest], find_rate: bool, target: float) -> dict:
    spec = RunSpec.from_dict(spec_dict)
    if not find_rate:
        return _replay(spec, requests)
    runs: dict[float, dict] = {}

    def attainment(rate: float) -> float:
        runs[rate] = out = _replay(spec, at_rate(requests, rate))
        return sustained_attainment(out["summary"], len(requests), rate)

    search = find_max_rate(attainment, mean_rate(requests), target)
    best = runs.get(search.rate) or _replay(spec, at_rate(requests, search.rate or mean_rate(requests)))
    best["rate"] = search.rate
    best["summary"]["rate_search"] = {"goodput_rps": search.rate, "target": target,
                                      "evaluations": [{"rate_rps": r, "attained": a} for r, a in search.evaluations]}
    return best


def sustained_attainment(summary: dict, offered: int, rate: float) -> float:
    """The share of requests that met the SLO, capped by the share of the offered rate the cluster served.

    A short trace at a huge rate is one burst that a big cluster may drain within the SLO; that
    rate is not sustainable. Served rate = finished requests over the time from the first arrival
    to the last completion, so a cluster that falls behind the arrivals fails the test too.
    """
    done = summary["requests"]["done"]
    met = (summary["slo"]["attained"] or 0.0) * done / max(offered, 1)  # unfinished requests missed it
    served = done / summary["makespan_s"] if summary["makespan_s"] > 0 else 0.0
    return min(met, served / rate) if rate > 0 else met
