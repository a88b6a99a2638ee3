"""One sweep point, run in a worker process: a replay, or a bisection for the highest SLO-meeting rate.

Top-level and free of shared state so that a process pool can pickle it; the parent stores what
it returns (the point's records, series, summary and components) as the point's child run.
"""

from __future__ import annotations

from twin.explore.search import at_rate, search_goodput
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

    def run(rate: float) -> tuple[dict, dict]:
        out = _replay(spec, at_rate(requests, rate))
        return out, out["summary"]

    search, best = search_goodput(run, requests, target)
    best["rate"] = search.rate
    best["summary"]["rate_search"] = {"goodput_rps": search.rate, "target": target,
                                      "evaluations": [{"rate_rps": r, "attained": a} for r, a in search.evaluations]}
    return best
