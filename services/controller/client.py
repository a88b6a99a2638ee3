"""`twin --controller ADDR replay ...`: the same replay, run by the controller over gRPC.

A local trace file is uploaded first; built-in and synthetic traces go by name. With
--watch the progress streams in and the stored summary is printed at the end; Ctrl-C cancels
the run (a second Ctrl-C detaches).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import grpc
from rich.console import Console

from services.common import convert
from services.cli_options import parse_window
from services.exits import RUN_EXIT, from_rpc
from twin.replay import RunSpec
from twin.traces import BUILTIN_TRACES
from twin.traces.loader import is_file
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


def trace_source(stub: controller_pb2_grpc.ControllerStub, source: str, fmt: str | None) -> controller_pb2.TraceSource:
    path = Path(source).expanduser()
    if source in BUILTIN_TRACES or source.startswith("synthetic:") or not is_file(path):
        return controller_pb2.TraceSource(name=source)
    uploaded = stub.UploadTrace(upload_chunks(path, fmt), timeout=CALL_TIMEOUT_S)
    return controller_pb2.TraceSource(upload_id=uploaded.upload_id)


def options_msg(opts: dict) -> controller_pb2.TraceOptions:
    msg = controller_pb2.TraceOptions(format=opts.get("fmt") or "", mapping=opts.get("mapping") or "",
                                      on_bad_row=opts.get("on_bad_row") or "", sample_seed=opts.get("seed") or 0,
                                      limit=opts.get("limit"), rate_rps=opts.get("rate"),
                                      burstiness=opts.get("burstiness"))
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
                          watch: bool, as_json: bool, metrics: str | None = None) -> int:
    """Start the replay on the controller; with `watch`, follow it (Ctrl-C cancels) and print the outcome."""
    from services.runs_remote import RemoteRuns
    from services.watch import follow_cancelling, print_outcome
    runs = RemoteRuns(controller, metrics)
    try:
        request = controller_pb2.ReplayRequest(trace=trace_source(runs.ctl, source, opts.get("fmt")),
                                               options=options_msg(opts), spec=convert.twin_spec(spec),
                                               slo=convert.slo_msg(spec.slo))
        run = runs.ctl.StartReplay(request, timeout=CALL_TIMEOUT_S)
        if not watch:
            console.print(f"started run [bold]{run.run_id}[/] on {controller}; follow it with "
                          f"`twin --controller {controller} runs watch {run.run_id[:12]}`")
            return 0
        interrupted = follow_cancelling(runs, run.run_id, quiet=as_json)
        outcome = runs.get(run.run_id)
        print_outcome(console, outcome, as_json)
        return interrupted or RUN_EXIT.get(outcome["status"], 1)
    except grpc.RpcError as exc:
        raise from_rpc(exc, f"controller {controller}") from exc
    finally:
        runs.close()


def _watch(stub: controller_pb2_grpc.ControllerStub, run_id: str, quiet: bool) -> None:
    """Progress of a run (a sweep's points, a replay's requests) on stderr until it ends."""
    from services.progress import replay_progress
    with replay_progress(f"run {run_id[:12]}", None, disable=quiet) as update:
        for p in stub.WatchRun(controller_pb2.WatchRunRequest(run_id=run_id)):
            update(p.finished, p.total, p.simulated_s)
