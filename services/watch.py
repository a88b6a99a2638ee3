"""Following a run to its end: progress on stderr, Ctrl-C semantics, and the final summary.

`twin runs watch` detaches on Ctrl-C. `twin --controller ... replay --watch` started the run,
so its first Ctrl-C asks the controller to cancel it (after a short grace in which a second
Ctrl-C detaches instead, leaving the run going) and watches until the run is stored as
cancelled. Both exit 130 after a Ctrl-C.
"""

from __future__ import annotations

import json
import time
from typing import Callable

from rich.console import Console

from services.exits import INTERRUPTED, CliError
from services.progress import replay_progress

GRACE_S = 2.0  # between the first Ctrl-C and the cancel request, for a second Ctrl-C to detach


def follow(runs, run_id: str, quiet: bool = False) -> str:
    """Stream a run's progress until it ends; returns its final status."""
    status = "running"
    with replay_progress(f"run {run_id[:12]}", None, disable=quiet) as update:
        for status, done, total, sim_s in runs.watch(run_id):
            update(done, total, sim_s)
    return status


def follow_cancelling(runs, run_id: str, quiet: bool = False,
                      grace: Callable[[], None] = lambda: time.sleep(GRACE_S)) -> int | None:
    """`follow`, where Ctrl-C cancels the run; returns 130 after a Ctrl-C, else None."""
    err = Console(stderr=True)
    try:
        follow(runs, run_id, quiet)
        return None
    except KeyboardInterrupt:
        err.print(f"cancelling run {run_id} in {GRACE_S:.0f} s (Ctrl-C again to detach and leave it running)")
    try:
        grace()
        try:
            runs.cancel(run_id)
        except CliError as exc:  # it ended meanwhile: say so, keep its outcome
            err.print(f"not cancelled: {exc.message}")
        follow(runs, run_id, quiet)
    except KeyboardInterrupt:
        err.print(f"detached; run {run_id} goes on (`twin runs cancel {run_id[:12]}` stops it)")
    return INTERRUPTED


def print_outcome(console: Console, run: dict, as_json: bool) -> None:
    from services import render
    if as_json:
        print(json.dumps({k: run.get(k) for k in ("run_id", "status", "error", "summary")}, indent=2))
        return
    if run.get("summary"):
        render.print_summary(console, run["summary"])
    console.print(f"run [bold]{run['run_id']}[/] ({run['status']}) stored by the controller")
    if run.get("error"):
        console.print(f"[red]{run['error']}[/]")
