"""`twin sweep`: a design-space sweep, run in local processes or by the controller's cluster replicas.

    twin sweep azure-conv-2023 --model llama2-7b --set server=lpu-8x-4nm,dgx-h100 --set chip.mac_trees=32,64
    twin sweep azure-conv-2023 --limit 2000 --set server=lpu-8x-4nm,dgx-a100 --find-max-rate --slo-ttft 2 --slo-tpot 0.1

The points come from one expansion (twin.explore.sweep); the local executor runs them in `--jobs`
processes, the remote one (`--controller`) hands them to the controller's StartSweep. Either way
the sweep is stored as a sweep run with one child run per point, and the table is sorted by the
objective (goodput with --find-max-rate, else output tokens/s) with the Pareto front marked.
"""

from __future__ import annotations

import os
import sys

import click
from rich.console import Console

from services.cli_options import checked_trace, replay_options, run_spec, trace_options
from services.exits import INTERRUPTED, RUN_EXIT
from services.limits import RunLimits
from services.sweep_view import figures, print_table, sweep_summary
from twin.errors import InvalidSpec
from twin.explore.sweep import Point, parse_set, sweep_points

MAX_LOCAL_POINTS = 256  # points one local sweep may have; split bigger studies into several sweeps


@click.command("sweep")
@click.argument("trace")
@replay_options
@trace_options
@click.option("--set", "sets", multiple=True, required=True, metavar="FIELD=V1,V2,...",
              help="A field and its values (repeatable; the points are the cartesian product). Fields: server, "
                   "model, servers, tp, replicas, weights, kv, every serving field (max_batch, policy, pd, "
                   "prefill_server, speculative, draft_model, prefix_cache, ...; none unsets an optional one), "
                   "and hardware fields chip.X, link.X, server.X, model.X (e.g. chip.mac_trees).")
@click.option("--jobs", type=int, default=None, help="Local worker processes [default: the CPU count].")
@click.option("--find-max-rate", is_flag=True,
              help="Bisect each point's arrival rate for the highest with SLO attainment >= --target (goodput).")
@click.option("--target", default=0.9, show_default=True, help="SLO attainment --find-max-rate must keep.")
@click.option("--store-records", is_flag=True,
              help="Also store every request record of every point (its summary and series always are); "
                   "a sweep through --controller always stores them.")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep's rows as JSON.")
@click.pass_obj
def sweep(obj, trace: str, sets: tuple[str, ...], jobs: int | None, find_max_rate: bool, target: float,
          store_records: bool, as_json: bool, **opts) -> None:
    """Run TRACE at every point of a sweep and compare them (goodput, latency, J/token, mm²)."""
    axes = [parse_set(s) for s in sets]
    if find_max_rate and opts["slo_ttft"] is None and opts["slo_tpot"] is None:
        raise InvalidSpec("--find-max-rate", "needs an SLO to meet: give --slo-ttft and/or --slo-tpot")
    if not 0 < target <= 1:
        raise InvalidSpec("--target", "must be in (0, 1]")
    base = _with_axis_definitions(run_spec(opts, obj.catalog), axes, obj.catalog)
    if obj.controller:
        from services.sweep_remote import remote_sweep
        sys.exit(remote_sweep(obj.console, obj.controller, base, trace, opts, axes, find_max_rate, target, as_json))
    points = sweep_points(base, axes, MAX_LOCAL_POINTS, check=RunLimits.from_env().check_spec)
    jobs = max(1, jobs or os.cpu_count() or 1)
    status, rows, summary, parent, code = _local_sweep(obj, base, trace, opts, axes, points, jobs,
                                                       (find_max_rate, target, store_records), as_json)
    print_table(obj.console, summary, as_json)
    if not as_json:
        obj.console.print(f"sweep [bold]{parent}[/] ({status}): {len(rows)} points stored in "
                          f"{obj.db or 'sqlite:///twin.db'}")
    sys.exit(code if code is not None else RUN_EXIT[status])


def _with_axis_definitions(base, axes, catalog):
    """The user catalogue entries every swept server and model needs travel in the base spec."""
    import dataclasses
    refs = base.names()
    refs += [("models" if f in ("model", "draft_model") else "servers", v) for f, values in axes
             if f in ("server", "model", "prefill_server", "draft_model") for v in values]
    return dataclasses.replace(base, definitions=catalog.definitions_for(*refs) or None)


def _local_sweep(obj, base, trace_name, opts, axes, points: list[Point], jobs, how: tuple[bool, float, bool], quiet):
    """The sweep in local workers; `how`: (find_max_rate, target, store_records)."""
    from services.runner import stored_policy
    from services.store import open_store
    from services.store.lite import open_lite
    from services.store.rows import process_owner
    find_max_rate, target, store_records = how
    trace = checked_trace(base, trace_name, opts)  # as twin replay and the controller load it
    requests = list(trace.requests)
    rows: list[dict] = []
    # A SQLite file through the stdlib's sqlite3 (no SQLAlchemy to import), else the full store.
    with open_lite(obj.db, process_owner("twin sweep")) or open_store(obj.db) as store:
        parent = store.create_run(kind="sweep", trace=trace.name, policy=stored_policy(base),
                                  spec={"base": base.to_dict(), "axes": [[f, list(v)] for f, v in axes],
                                        "find_max_rate": find_max_rate, "target": target,
                                        "store_records": store_records})
        log = None if quiet else Console(stderr=True)
        code = _run_points(store, trace, points, requests, jobs, how, rows, log)
        status = "complete" if code is None else "interrupted"
        missed = sum(r["status"] not in ("complete", "n/a") for r in rows)
        status = "failed" if status == "complete" and missed else status
        summary = sweep_summary(rows, find_max_rate)
        error = "stopped by a signal: finished points kept" if status == "interrupted" else \
            ("" if status == "complete" else f"{missed} points did not complete")
        store.finish(parent, status, summary, None, error)
    return status, rows, summary, parent, code


def _run_points(store, trace, points, requests, jobs, how: tuple[bool, float, bool], rows, console) -> int | None:
    """Run the points, storing each as it finishes; the exit code of a stop signal, else None."""
    from services.signals import StopSignals
    from services.sweep_worker import run_points
    for point in points:
        if point.error:
            rows.append({"values": point.values, "status": "failed" if point.applies else "n/a",
                         "error": point.error, "run_id": None})
    runnable = [p for p in points if not p.error]
    tasks = [(p.spec.to_dict(), requests, *how) for p in runnable]

    def stored(index: int, out: dict) -> None:
        with signals.deferred():  # a point is stored whole, or not at all
            rows.append(_store_point(store, trace, runnable[index], out))
        if console is not None:
            failed = "" if out["status"] == "complete" else f" ({out['status']}: {out['error']})"
            console.print(f"[dim]point {len(rows)}/{len(points)} done: {runnable[index].values}{failed}[/]",
                          highlight=False)

    try:
        with StopSignals() as signals:
            run_points(tasks, jobs, stored, lambda: signals.signum is not None)
            return signals.exit_code
    except KeyboardInterrupt:  # a second signal: stop at once (workers in flight are stopped; finished points kept)
        return INTERRUPTED


def _store_point(store, trace, point: Point, out: dict) -> dict:
    """A child run for the point (its records, series and summary) and the row the table shows."""
    from services.runner import stored_policy, trace_info
    row = {"values": point.values, "status": out["status"], "error": out["error"]}
    if out["summary"] is not None:
        out["summary"]["trace"] = trace_info(trace)
    run_id = store.create_run(kind="replay", trace=trace.name, spec=out["spec"],
                              policy=stored_policy(point.spec))
    for start in range(0, len(out["records"]), 10_000):
        store.append(run_id, out["records"][start:start + 10_000], out["series"] if start == 0 else [])
    if not out["records"] and out["series"]:
        store.append(run_id, [], out["series"])
    store.finish(run_id, out["status"], out["summary"], out["components"], out["error"])
    row.update(run_id=run_id, **figures(out["summary"]), goodput_rps=out.get("rate"))
    return row
