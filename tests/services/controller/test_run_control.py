"""Runs stopped from outside: cancelled, watched by a client that leaves, and the deadlines of watches."""

from __future__ import annotations

import json

import grpc
import pytest

from twin_api.v1 import controller_pb2


SLOW = 200  # requests: about 40,000 layer-fidelity steps on the small twin, seconds of work


def slow_request(replay_req) -> controller_pb2.ReplayRequest:
    """Layer fidelity: seconds of work, so a run can be caught in the middle."""
    return replay_req(limit=SLOW, fidelity="layer")


def first_progress(stack, run_id: str) -> controller_pb2.RunProgress:
    """The first progress with requests finished; leaving the watch there is a client disconnecting."""
    watch = stack.controller.WatchRun(controller_pb2.WatchRunRequest(run_id=run_id), timeout=60)
    for progress in watch:
        if progress.finished > 0:
            watch.cancel()
            return progress
    raise AssertionError("the run ended before any progress")


def test_a_cancelled_run_keeps_what_it_recorded(held, stack, replay_req) -> None:
    run = stack.controller.StartReplay(slow_request(replay_req))
    assert first_progress(stack, run.run_id).status == "running"
    cancelled = stack.controller.CancelRun(controller_pb2.CancelRunRequest(run_id=run.run_id))
    assert cancelled.status == "cancelled"
    summary = json.loads(cancelled.summary_json)
    assert summary["status"] == "cancelled" and summary["requests"]["total"] == cancelled.requests_recorded < SLOW
    assert len(stack.store.request_records(run.run_id)) == cancelled.requests_recorded
    with pytest.raises(grpc.RpcError) as caught:
        stack.controller.CancelRun(controller_pb2.CancelRunRequest(run_id=run.run_id))
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION


def test_a_client_leaving_mid_watch_leaves_the_run_going(held, stack, replay_req) -> None:
    run = stack.controller.StartReplay(slow_request(replay_req))
    first_progress(stack, run.run_id)  # cancels its watch after the first progress
    with pytest.raises(grpc.RpcError) as caught:  # a watch whose deadline passes mid-run
        list(stack.controller.WatchRun(controller_pb2.WatchRunRequest(run_id=run.run_id), timeout=0.3))
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    held.set()
    done = stack.wait(run.run_id)
    assert (done.status, done.requests_recorded) == ("complete", SLOW)
