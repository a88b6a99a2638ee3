"""`twin runs ...`: list, show, compare, export, delete, watch and cancel stored runs.

Each command works on the local database, or with --controller (TWIN_CONTROLLER) through
the controller and metrics services; ids may be full or a unique prefix. Errors follow
`services.exits`.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager

import click
from rich.console import Console

from services.exits import INTERRUPTED, CliError


@contextmanager
def backend(obj):
    """The runs of `obj` (the CLI context): remote when a controller is set, else the local store."""
    if obj.controller:
        from services.runs_remote import RemoteRuns
        runs = RemoteRuns(obj.controller, getattr(obj, "metrics", None))
    else:
        from services.runs_backend import LocalRuns
        runs = LocalRuns(obj.db)
    try:
        yield runs
    finally:
        runs.close()


def _json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group()
def runs() -> None:
    """Stored runs: list, show, compare, export, delete, watch, cancel (ids: full or a unique prefix)."""


@runs.command("list")
@click.option("--limit", default=20, show_default=True, help="How many runs, newest first.")
@click.option("--status", default=None, help="Only runs with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (a list of runs, key run_id).")
@click.pass_obj
def runs_list(obj, limit: int, status: str | None, as_json: bool) -> None:
    """List stored runs with their full ids."""
    from services import render
    with backend(obj) as b:
        rows = b.list(limit, status)
    if as_json:
        _json(rows)
    else:
        obj.console.print(render.runs_table(rows))


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run and its summary as JSON.")
@click.pass_obj
def runs_show(obj, run_id: str, as_json: bool) -> None:
    """Show one run's summary."""
    from services import render
    with backend(obj) as b:
        run = b.get(run_id)
    if as_json:
        _json(run)
        return
    obj.console.print(f"run [bold]{run['run_id']}[/] ({run['kind']}, trace {run['trace']}): {run['status']} "
                      f"{run['error']}")
    from services.calibration_out import used_in
    for line in used_in(run.get("spec")):
        obj.console.print(line, markup=False)
    summary = run.get("summary") or {}
    if run["kind"] == "validate" and ("files" in summary or "profiles" in summary):
        from services.calibrate_cmd import print_validation
        print_validation(obj.console, run["summary"], False)
    elif run["kind"] == "calibrate" and "calibration" in summary:
        from services.calibration_out import stored_text
        obj.console.print(stored_text(run["summary"]), markup=False)
    elif run.get("summary"):
        render.print_summary(obj.console, run["summary"])


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--best", type=click.IntRange(min=1), default=3, show_default=True,
              help="A search run stands for this many of its best feasible trials (its Pareto front first).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def runs_compare(obj, run_ids: tuple[str, ...], best: int, as_json: bool) -> None:
    """Key figures of two or more runs side by side; a search run's id compares its best trials' runs."""
    from services import render
    from services.metrics.compare import labels
    with backend(obj) as b:
        runs = [t for r in run_ids for t in _trial_runs(b, b.get(r), best)]
        if len(runs) < 2:
            raise CliError(f"compare needs two or more runs, got {len(runs)}")
        ids = [r["run_id"] for r in runs]
        rows = b.compare(ids)
    names = labels([r.get("spec") for r in runs], ids)
    if as_json:
        _json({"run_ids": ids, "labels": names, "rows": [{"metric": m, "values": v} for m, v in rows]})
    else:
        obj.console.print(render.compare_table(names, rows))


def _trial_runs(b, run: dict, best: int) -> list[dict]:
    """A search run's `best` best feasible trials as their runs (front first, then by the first objective);
    any other run as itself."""
    if run.get("kind") != "search":
        return [run]
    trials = [t for t in (run.get("summary") or {}).get("trials", []) if t["feasible"] and t.get("run_id")]
    trials.sort(key=lambda t: not t["pareto"])  # stable: the summary's order (best first) within each part
    if not trials:
        raise CliError(f"search {run['run_id'][:12]} has no feasible trial to compare")
    return [b.get(t["run_id"]) for t in trials[:best]]


@runs.command("export")
@click.argument("run_id")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "jsonl"]), default=None,
              help="File format [default: from the file's suffix (.csv, .parquet, .jsonl); csv for '-'].")
@click.option("-o", "--output", required=True, help="File to write; '-' for standard output.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@click.pass_obj
def runs_export(obj, run_id: str, fmt: str | None, output: str, force: bool) -> None:
    """Write a run's per-request records (vLLM benchmark column names) to a file, streaming."""
    from services.export import export, format_of
    from services.output import check_output, write_output
    fmt = fmt or format_of(output)
    check_output(output, force)
    with backend(obj) as b:
        full = b.get(run_id)["run_id"]
        n = write_output(output, force, lambda path: export(b.records(full), fmt, path))
    Console(stderr=True).print(f"wrote {n:,} request records of run {full} to {output} ({fmt})")


@runs.command("delete")
@click.argument("run_ids", nargs=-1, required=True)
@click.pass_obj
def runs_delete(obj, run_ids: tuple[str, ...]) -> None:
    """Delete runs that have ended, with everything they recorded."""
    with backend(obj) as b:
        for run_id in run_ids:
            click.echo(f"deleted run {b.delete(run_id)}")


@runs.command("cancel")
@click.argument("run_id")
@click.pass_obj
def runs_cancel(obj, run_id: str) -> None:
    """Ask the controller to stop a running run; it is stored as cancelled."""
    with backend(obj) as b:
        run = b.cancel(run_id)
    click.echo(f"run {run['run_id']}: {run['status']}")


@runs.command("watch")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as JSON.")
@click.pass_obj
def runs_watch(obj, run_id: str, as_json: bool) -> None:
    """Follow a running run until it ends, then print its summary. Ctrl-C detaches (the run goes on)."""
    from services.exits import RUN_EXIT
    from services.watch import follow, print_outcome
    with backend(obj) as b:
        full = b.get(run_id)["run_id"]
        try:
            follow(b, full, quiet=as_json)
        except KeyboardInterrupt:
            Console(stderr=True).print(f"detached; run {full} goes on (`twin runs cancel {full[:12]}` stops it)")
            sys.exit(INTERRUPTED)
        run = b.get(full)
    print_outcome(obj.console, run, as_json)
    sys.exit(RUN_EXIT.get(run["status"], 1))
