"""A replay driven through gRPC stores what the same replay run embedded stores."""

from __future__ import annotations

import json

from services.common import convert
from services.runner import stored_replay
from twin.traces import TraceOptions, load_trace
from twin_api.v1 import controller_pb2, metrics_pb2


def test_grpc_replay_stores_the_embedded_summary_and_records(db_url: str, make_stack, replay_req) -> None:
    stack = make_stack(db_url)
    request = replay_req(limit=40)
    request.slo.ttft_s = 0.5
    run = stack.wait(stack.controller.StartReplay(request).run_id)
    spec = convert.run_spec(request.spec, convert.slo(request.slo))
    trace = load_trace("azure-conv-2023", TraceOptions(limit=40))
    embedded_id, _ = stored_replay(stack.store, spec, trace)
    embedded = stack.store.get_run(embedded_id)
    via_metrics = stack.metrics.GetSummary(metrics_pb2.GetSummaryRequest(run_id=run.run_id))
    assert run.status == "complete"
    assert json.loads(run.summary_json) == embedded.summary
    assert json.loads(via_metrics.summary_json) == embedded.summary
    assert stack.store.request_records(run.run_id) == stack.store.request_records(embedded_id)
    assert stack.store.series(run.run_id) == stack.store.series(embedded_id)
    assert stack.store.components(run.run_id) == stack.store.components(embedded_id)
    assert json.loads(run.spec_json) == embedded.spec


def test_runs_are_listed_newest_first(stack, replay_req) -> None:
    first = stack.wait(stack.controller.StartReplay(replay_req(limit=5)).run_id)
    second = stack.wait(stack.controller.StartReplay(replay_req(limit=5)).run_id)
    listed = stack.controller.ListRuns(controller_pb2.ListRunsRequest(limit=10)).runs
    assert [r.run_id for r in listed] == [second.run_id, first.run_id]
    assert all(r.status == "complete" and r.requests_recorded == 5 for r in listed)


def test_a_watch_of_a_finished_run_gives_its_final_state(stack, replay_req) -> None:
    run = stack.wait(stack.controller.StartReplay(replay_req(limit=5)).run_id)
    progress = list(stack.controller.WatchRun(controller_pb2.WatchRunRequest(run_id=run.run_id), timeout=10))
    assert [(p.status, p.finished, p.total) for p in progress] == [("complete", 5, 5)]


def test_a_sweep_runs_every_point_on_the_replicas(stack, replay_req) -> None:
    request = controller_pb2.SweepRequest(base=replay_req(limit=10), axes=[
        controller_pb2.SweepAxis(field="max_batch", values=["4", "64"]),
        controller_pb2.SweepAxis(field="weights", values=["fp16", "int8"])])
    sweep = stack.wait(stack.controller.StartSweep(request).run_id)
    points = json.loads(sweep.summary_json)["points"]
    assert sweep.status == "complete" and len(points) == 4
    assert {(p["values"]["max_batch"], p["values"]["weights"]) for p in points} == \
        {(4, "fp16"), (4, "int8"), (64, "fp16"), (64, "int8")}
    children = [stack.controller.GetRun(controller_pb2.GetRunRequest(run_id=p["run_id"])) for p in points]
    assert all(c.status == "complete" and c.requests_recorded == 10 for c in children)
