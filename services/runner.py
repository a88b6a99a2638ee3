"""A replay whose records land in the store: used by the CLI and by the controller service.

Records reach the store before the run is marked: a batch whose transaction did not
commit stays pending and goes with the next one, and the run is finished (with its
summary) only after the last batch is stored, so the stored summary counts exactly the
stored records, however the run was stopped.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Callable

from services.signals import StopSignals
from twin.metrics import RequestRecord, SeriesSample
from twin import capacity
from twin.replay import Progress, RunResult, RunSpec, replay
from twin.sim import component_figures
from twin.traces import LoadedTrace

if TYPE_CHECKING:  # the CLI passes a StoreWriter (same methods) and never imports the SQL layer
    from services.store import Store


class PendingSink:
    """Appends batches to the store; a batch is dropped from memory only once the store took it
    (committed it, or, a StoreWriter, sent it to the process that commits it in order)."""

    def __init__(self, append: Callable[[list[RequestRecord], list[SeriesSample]], None],
                 guard: Callable[[], AbstractContextManager]):
        self.append, self.guard = append, guard
        self.requests: list[RequestRecord] = []
        self.series: list[SeriesSample] = []

    def __call__(self, requests: list[RequestRecord], series: list[SeriesSample]) -> None:
        self.requests.extend(requests)
        self.series.extend(series)
        self.flush()

    def flush(self) -> None:
        with self.guard():  # a signal does not cut one batch's transaction short
            self.append(self.requests, self.series)
            self.requests, self.series = [], []


def stored_replay(store: Store, spec: RunSpec, trace: LoadedTrace, *, progress: Progress | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  on_created: Callable[[str], None] | None = None,
                  signals: StopSignals | None = None,
                  on_built: Callable[[object], None] | None = None) -> tuple[str, RunResult]:
    """Build the twin, create the run, stream its records into the store in batches, finish it.

    With `signals` (entered by the caller), SIGINT/SIGTERM end the run `interrupted` at the next
    checkpoint, with every record and a summary of exactly those records. `on_built(sim)` sees
    the twin before it runs (e.g. to attach a trace-event recorder).
    """
    sim = spec.build()  # bad specs fail here, before a run row exists
    if on_built is not None:
        on_built(sim)
    signals = signals or StopSignals()  # not entered: never fires, but its sections still work
    run_id = store.create_run(kind="replay", trace=trace.name, spec=spec.to_dict(),
                              policy=stored_policy(spec))
    if on_created is not None:
        on_created(run_id)
    sink = PendingSink(lambda r, s: store.append(run_id, r, s), signals.deferred)
    stop = lambda: signals.signum is not None or (should_stop is not None and should_stop())  # noqa: E731
    try:
        result = replay(sim, trace.requests, spec.slo, sink=sink, progress=progress, should_stop=stop)
        sink.flush()
    except BaseException as exc:  # the sink itself failed, or a second signal: keep what was stored, say why
        store.mark_interrupted(run_id, f"{type(exc).__name__}: {exc}")
        raise
    if result.status == "cancelled" and signals.reason:
        result = RunResult("interrupted", {**result.summary, "status": "interrupted"}, signals.reason)
    result.summary["trace"] = trace_info(trace)
    result.summary["load"] = capacity.of_simulation(sim, trace.requests)
    components = component_figures(sim)
    with signals.deferred():
        store.finish(run_id, result.status, result.summary, components, result.error)
    return run_id, result


def stored_policy(spec: RunSpec) -> dict:
    """The run row's policy column: the spec's weight and KV formats."""
    return {"weights": spec.weights, "kv": spec.kv}


def load_info(spec: RunSpec, trace: LoadedTrace) -> dict:
    """Offered load against the sustainable rate of the twin `spec` describes (twin.capacity)."""
    return capacity.of_simulation(spec.build(), trace.requests)


def trace_info(trace: LoadedTrace) -> dict:
    return {"name": trace.name, "format": trace.fmt, "requests": len(trace.requests),
            "bad_rows_skipped": trace.bad_rows, "clamped": trace.clamped, "out_of_order": trace.out_of_order}
