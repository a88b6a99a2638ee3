"""`twin --controller ADDR replay ...`: the same replay, run by the controller over gRPC.

A local trace file is uploaded first; built-in and synthetic traces go by name. With
--watch the progress streams in and the stored summary is printed at the end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import grpc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services import render
from services.common import convert
from services.cli_options import parse_window
from services.common.channel import open_channel
from services.replay_cmd import EXIT
from twin.replay import RunSpec
from twin.traces import BUILTIN_TRACES
from twin_api.v1 import controller_pb2, controller_pb2_grpc

CHUNK_BYTES = 1024 * 1024
CALL_TIMEOUT_S = 120.0


def upload_chunks(path: Path, fmt: str | None) -> Iterator[controller_pb2.TraceChunk]:
    with path.open("rb") as f:
        first = True
        while data := f.read(CHUNK_BYTES):
            yield controller_pb2.TraceChunk(name=path.name if first else "", format=(fmt or "") if first else "",
                                            data=data)
            first = False


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the file system: not a file to upload
        return False


def trace_source(stub: controller_pb2_grpc.ControllerStub, source: str, fmt: str | None) -> controller_pb2.TraceSource:
    path = Path(source).expanduser()
    if source in BUILTIN_TRACES or source.startswith("synthetic:") or not _is_file(path):
        return controller_pb2.TraceSource(name=source)
    uploaded = stub.UploadTrace(upload_chunks(path, fmt), timeout=CALL_TIMEOUT_S)
    return controller_pb2.TraceSource(upload_id=uploaded.upload_id)


def options_msg(opts: dict) -> controller_pb2.TraceOptions:
    msg = controller_pb2.TraceOptions(format=opts.get("fmt") or "", mapping=opts.get("mapping") or "",
                                      on_bad_row=opts.get("on_bad_row") or "", sample_seed=opts.get("seed") or 0,
                                      limit=opts.get("limit"), rate_rps=opts.get("rate"))
    if opts.get("window"):
        msg.window_start_s, end = parse_window(opts["window"])
        if end is not None:
            msg.window_end_s = end
    if opts.get("sample", 1.0) != 1.0:
        msg.sample_fraction = opts["sample"]
    if opts.get("speedup", 1.0) != 1.0:
        msg.speedup = opts["speedup"]
    return msg


def remote_replay_command(console: Console, controller: str, spec: RunSpec, source: str, opts: dict,
                          watch: bool, as_json: bool) -> int:
    channel = open_channel(controller)
    try:
        stub = controller_pb2_grpc.ControllerStub(channel)
        request = controller_pb2.ReplayRequest(trace=trace_source(stub, source, opts.get("fmt")),
                                               options=options_msg(opts), spec=convert.twin_spec(spec),
                                               slo=convert.slo_msg(spec.slo))
        run = stub.StartReplay(request, timeout=CALL_TIMEOUT_S)
        if not watch:
            console.print(f"started run [bold]{run.run_id}[/] on {controller}; watch it with --watch, "
                          f"read it with `twin runs show {run.run_id}` against the same database")
            return 0
        _watch(stub, run.run_id, as_json)
        return _report(console, stub.GetRun(controller_pb2.GetRunRequest(run_id=run.run_id),
                                            timeout=CALL_TIMEOUT_S), as_json)
    except grpc.RpcError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc.code().name}: {exc.details()}")
        return 2
    finally:
        channel.close()


def _watch(stub: controller_pb2_grpc.ControllerStub, run_id: str, quiet: bool) -> None:
    bar = Progress(TextColumn("[bold]replay[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("sim {task.fields[sim]:,.0f} s"), TimeElapsedColumn(),
                   console=Console(stderr=True), disable=quiet, transient=True)
    with bar:
        task = bar.add_task(run_id[:8], total=None, sim=0.0)
        for p in stub.WatchRun(controller_pb2.WatchRunRequest(run_id=run_id)):
            bar.update(task, completed=p.finished, total=p.total or None, sim=p.simulated_s)


def _report(console: Console, run: controller_pb2.Run, as_json: bool) -> int:
    summary = json.loads(run.summary_json) if run.summary_json else None
    if as_json:
        print(json.dumps({"run_id": run.run_id, "status": run.status, "error": run.error, "summary": summary},
                         indent=2))
    else:
        if summary:
            render.print_summary(console, summary)
        console.print(f"run [bold]{run.run_id}[/] ({run.status}) stored by the controller")
        if run.error:
            console.print(f"[red]{run.error}[/]")
    return EXIT.get(run.status, 1)
