"""`twin replay`: load the trace, run the twin with a progress bar, store and print the summary."""

from __future__ import annotations

import json

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services import render
from services.cli_options import trace_options_from
from services.runner import stored_replay
from services.store import open_store
from twin.replay import RunSpec
from twin.traces import load_trace

EXIT = {"complete": 0, "failed": 1, "cancelled": 1, "interrupted": 130}


def run_replay_command(console: Console, db: str | None, spec: RunSpec, source: str, opts: dict,
                       as_json: bool, no_progress: bool) -> int:
    trace = load_trace(source, trace_options_from(opts, spec.model_spec().max_context))
    if trace.bad_rows:
        console.print(f"[yellow]skipped {trace.bad_rows} malformed row(s); first: {trace.first_bad_row}[/]")
    with open_store(db) as store:
        bar = Progress(TextColumn("[bold]replay[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("sim {task.fields[sim]:,.0f} s"), TimeElapsedColumn(),
                       console=Console(stderr=True), disable=no_progress or as_json, transient=True)
        with bar:
            task = bar.add_task(trace.name, total=len(trace.requests), sim=0.0)
            run_id, result = stored_replay(
                store, spec, trace,
                progress=lambda done, total, now: bar.update(task, completed=done, sim=now))
    if as_json:
        print(json.dumps({"run_id": run_id, "status": result.status, "error": result.error,
                          "summary": result.summary}, indent=2))
    else:
        render.print_summary(console, result.summary)
        console.print(f"stored as run [bold]{run_id}[/] ({result.status}) in {db or 'sqlite:///twin.db'}")
        if result.error:
            console.print(f"[red]{result.error}[/]")
    return EXIT[result.status]
