"""A replay whose records land in the store: used by the CLI and by the controller service."""

from __future__ import annotations

from typing import Callable

from services.store import Store
from twin.replay import Progress, RunResult, RunSpec, replay
from twin.traces import LoadedTrace


def stored_replay(store: Store, spec: RunSpec, trace: LoadedTrace, *, progress: Progress | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  on_created: Callable[[str], None] | None = None) -> tuple[str, RunResult]:
    """Build the twin, create the run, stream its records into the store in batches, finish it."""
    sim = spec.build()  # bad specs fail here, before a run row exists
    run_id = store.create_run(kind="replay", trace=trace.name, spec=spec.to_dict(),
                              policy={"weights": spec.weights, "kv": spec.kv})
    if on_created is not None:
        on_created(run_id)
    try:
        result = replay(sim, trace.requests, spec.slo, sink=lambda r, s: store.append(run_id, r, s),
                        progress=progress, should_stop=should_stop)
    except BaseException as exc:  # the sink itself failed: keep what was stored, say why
        store.mark_interrupted(run_id, f"{type(exc).__name__}: {exc}")
        raise
    result.summary["trace"] = trace_info(trace)
    components = {f"replica{r.index}": r.stats.as_dict() for r in sim.replicas}
    store.finish(run_id, result.status, result.summary, components, result.error)
    return run_id, result


def trace_info(trace: LoadedTrace) -> dict:
    return {"name": trace.name, "format": trace.fmt, "requests": len(trace.requests),
            "bad_rows_skipped": trace.bad_rows, "clamped": trace.clamped}
