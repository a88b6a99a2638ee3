"""`twin --controller ADDR sweep ...`: the same sweep points, run by the controller on its cluster replicas.

The controller expands the axes with the same code as the local executor (twin.explore.sweep),
runs each point (or each rate of its bisection) as a child replay, and stores the sweep; this
client uploads the trace if it is a local file, follows the progress and prints the same table.
"""

from __future__ import annotations

import json

import grpc
from rich.console import Console

from services.common import convert
from services.common.channel import open_channel
from services.controller.client import CALL_TIMEOUT_S, _watch, options_msg, trace_source
from services.exits import RUN_EXIT, from_rpc
from services.sweep_view import print_table
from twin.replay import RunSpec
from twin_api.v1 import controller_pb2, controller_pb2_grpc



def remote_sweep(console: Console, controller: str, base: RunSpec, source: str, opts: dict,
                 axes: list[tuple[str, list[str]]], find_max_rate: bool, target: float, as_json: bool) -> int:
    channel = open_channel(controller)
    try:
        stub = controller_pb2_grpc.ControllerStub(channel)
        replay = controller_pb2.ReplayRequest(trace=trace_source(stub, source, opts.get("fmt")),
                                              options=options_msg(opts), spec=convert.twin_spec(base),
                                              slo=convert.slo_msg(base.slo))
        request = controller_pb2.SweepRequest(
            base=replay,
            axes=[controller_pb2.SweepAxis(field=f, values=[str(v) for v in values]) for f, values in axes],
            find_max_rate=find_max_rate, target=target)
        run = stub.StartSweep(request, timeout=CALL_TIMEOUT_S)
        _watch(stub, run.run_id, as_json)
        run = stub.GetRun(controller_pb2.GetRunRequest(run_id=run.run_id), timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as exc:  # the CLI's one error shape (services.exits)
        raise from_rpc(exc, f"controller {controller}") from exc
    finally:
        channel.close()
    summary = json.loads(run.summary_json) if run.summary_json else {"points": [], "objective": "-", "pareto_over": {}}
    print_table(console, summary, as_json)
    if not as_json:
        console.print(f"sweep [bold]{run.run_id}[/] ({run.status}) stored by the controller {run.error}")
    return RUN_EXIT.get(run.status, 1)
