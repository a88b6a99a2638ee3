"""`twin replay`: load the trace, run the twin with a progress bar, store and print the summary."""

from __future__ import annotations

import json

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services import render
from services.cli_options import trace_options_from
from services.limits import RunLimits
from services.runner import stored_replay
from services.signals import StopSignals
from services.store import open_store
from services.store.repo import process_owner
from twin.replay import RunSpec
from twin.traces import load_trace

EXIT = {"complete": 0, "failed": 1, "cancelled": 1, "interrupted": 130}


def run_replay_command(console: Console, db: str | None, spec: RunSpec, source: str, opts: dict,
                       as_json: bool, no_progress: bool) -> int:
    limits = RunLimits.from_env()
    limits.check_spec(spec)
    limits.check_source(source)
    trace = load_trace(source, trace_options_from(opts, spec.model_spec().max_context))
    limits.check_trace(trace)
    if trace.bad_rows:
        console.print(f"[yellow]skipped {trace.bad_rows} malformed row(s); first: {trace.first_bad_row}[/]")
    if trace.out_of_order:
        console.print(f"[yellow]{trace.out_of_order} request(s) of {trace.name} arrive before a row above them; "
                      "replayed in arrival order[/]")
    with open_store(db, owner=process_owner("twin replay")) as store:
        bar = Progress(TextColumn("[bold]replay[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("sim {task.fields[sim]:,.0f} s"), TimeElapsedColumn(),
                       console=Console(stderr=True), disable=no_progress or as_json, transient=True)
        with bar, StopSignals() as signals:
            task = bar.add_task(trace.name, total=len(trace.requests), sim=0.0)
            try:
                run_id, result = stored_replay(
                    store, spec, trace, signals=signals,
                    progress=lambda done, total, now: bar.update(task, completed=done, sim=now))
            except KeyboardInterrupt:  # a second signal: the run is marked interrupted with what it stored
                console.print("[red]stopped at once; the run is marked interrupted with the records stored[/]")
                return signals.exit_code or EXIT["interrupted"]
    if as_json:
        print(json.dumps({"run_id": run_id, "status": result.status, "error": result.error,
                          "summary": result.summary}, indent=2))
    else:
        render.print_summary(console, result.summary)
        console.print(f"stored as run [bold]{run_id}[/] ({result.status}) in {db or 'sqlite:///twin.db'}")
        if result.error:
            console.print(f"[red]{result.error}[/]")
    if result.status == "interrupted" and signals.exit_code:
        return signals.exit_code  # 130 after Ctrl-C, 143 after SIGTERM
    return EXIT[result.status]
