"""`twin replay`: load the trace, run the twin with a progress bar, store and print the summary.

The store lives in a child process (services.store.writer) that the CLI starts first, so that
its imports overlap building the spec and reading the trace; this process never imports SQL.
"""

from __future__ import annotations

import json

from rich.console import Console

from services import render
from services.cli_options import checked_trace
from services.exits import RUN_EXIT
from services.progress import replay_progress
from services.runner import stored_replay
from services.signals import StopSignals
from services.store.writer import StoreWriter
from twin.replay import RunResult, RunSpec
from twin.trace_events import attach as attach_trace_events


def run_replay_command(console: Console, store: StoreWriter, spec: RunSpec, source: str, opts: dict,
                       as_json: bool, no_progress: bool, trace_events: str | None = None) -> int:
    """Replay into `store`, a StoreWriter the caller started (and closes) before building `spec`."""
    trace = checked_trace(spec, source, opts)
    recorder: list = []
    labels: list[str] = []

    def built(sim) -> None:
        # The store is opened once the twin is built: a spec that cannot be built (--tp 3 on 8 chips)
        # leaves no database behind, and a bad --db still fails in one line before any simulation.
        labels.append(store.open())
        if trace_events:
            recorder.append(attach_trace_events(sim))

    progress = replay_progress(f"replay {trace.name}", len(trace.requests), disable=no_progress or as_json)
    with progress as update, StopSignals() as signals:
        try:
            run_id, result = stored_replay(store, spec, trace, signals=signals, progress=update, on_built=built)
        except KeyboardInterrupt:  # a second signal: the run is marked interrupted with what it stored
            console.print("[red]stopped at once; the run is marked interrupted with the records stored[/]")
            return signals.exit_code or RUN_EXIT["interrupted"]
    store.end()  # the run is stored: the writer exits while this process prints
    if recorder:
        write_trace_events(recorder[0], trace_events)
    _print_result(console, run_id, result, labels[0], as_json)
    if not as_json:
        from services.calibration_out import used_in
        for line in used_in(spec.to_dict()):
            console.print(line, markup=False)
    if result.status == "interrupted" and signals.exit_code:
        return signals.exit_code  # 130 after Ctrl-C, 143 after SIGTERM
    return RUN_EXIT[result.status]




def _print_result(console: Console, run_id: str, result: RunResult, label: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"run_id": run_id, "status": result.status, "error": result.error,
                          "summary": result.summary}, indent=2))
        return
    render.print_summary(console, result.summary)
    console.print(f"stored as run [bold]{run_id}[/] ({result.status}) in {label}")
    if result.error:
        console.print(f"[red]{result.error}[/]")


def write_trace_events(recorder, path: str) -> None:
    """The recorded activity as Chrome trace-event JSON, streamed event by event."""
    with open(path, "w") as f:
        f.write('{"displayTimeUnit": "ms", "otherData": ' + json.dumps(recorder.chrome()["otherData"]) +
                ', "traceEvents": [\n')
        for i, event in enumerate(recorder.events):
            f.write((",\n" if i else "") + json.dumps(event))
        f.write("\n]}\n")
    Console(stderr=True).print(f"wrote {len(recorder.events):,} trace events to {path} (open in Perfetto)")
