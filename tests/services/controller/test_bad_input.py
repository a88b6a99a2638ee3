"""Bad input to the controller: each gets a clear status, and nothing already stored is harmed."""

from __future__ import annotations

import json

import grpc
import pytest

from services.common.channel import open_channel
from services.common.security import Security
from twin_api.v1 import controller_pb2, controller_pb2_grpc

HEADER = b"TIMESTAMP,ContextTokens,GeneratedTokens\n"
ROWS = b"2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n"


def chunks(name: str, data: bytes, size: int = 64 * 1024):
    for at in range(0, len(data), size):
        yield controller_pb2.TraceChunk(name=name if at == 0 else "", data=data[at:at + size])


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


@pytest.fixture
def stored(stack, replay_req) -> controller_pb2.Run:
    """A run stored before the bad input arrives; it must come out of every test unchanged."""
    return stack.wait(stack.controller.StartReplay(replay_req(limit=10)).run_id)


def assert_unharmed(stack, before: controller_pb2.Run) -> None:
    after = stack.controller.GetRun(controller_pb2.GetRunRequest(run_id=before.run_id))
    assert after == before
    assert len(stack.store.request_records(before.run_id)) == before.requests_recorded == 10


def test_an_uploaded_trace_replays_by_id(stack, replay_req, stored) -> None:
    uploaded = stack.controller.UploadTrace(chunks("mine.csv", HEADER + ROWS * 3, size=20))
    request = replay_req()
    request.trace.upload_id = uploaded.upload_id
    run = stack.wait(stack.controller.StartReplay(request).run_id)
    assert (uploaded.requests, uploaded.name, run.status, run.requests_recorded) == (6, "mine.csv", "complete", 6)
    assert json.loads(run.summary_json)["trace"]["name"] == "mine.csv"
    assert_unharmed(stack, stored)


def test_a_malformed_upload_names_its_line(stack, stored) -> None:
    bad = HEADER + ROWS + b"2023-11-16 18:16:00,abc,5\n"
    error = rpc_error(lambda: stack.controller.UploadTrace(chunks("bad.csv", bad)))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "bad.csv:4" in error.details() and "ContextTokens" in error.details()
    assert_unharmed(stack, stored)


def test_an_oversized_upload_is_refused(stack, stored) -> None:
    error = rpc_error(lambda: stack.controller.UploadTrace(chunks("big.csv", HEADER + ROWS * 40_000)))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and "limit" in error.details()
    assert_unharmed(stack, stored)


@pytest.mark.parametrize("change, code, named", [
    (dict(model="gpt-9"), grpc.StatusCode.NOT_FOUND, "gpt-9"),
    (dict(server="tpu-v9"), grpc.StatusCode.NOT_FOUND, "tpu-v9"),
    (dict(model="llama2-70b"), grpc.StatusCode.RESOURCE_EXHAUSTED, "GiB per chip"),
    (dict(tp=5), grpc.StatusCode.INVALID_ARGUMENT, "tp"),
    (dict(trace="no-such-trace"), grpc.StatusCode.INVALID_ARGUMENT, "trace.name"),
    (dict(trace="/etc/passwd"), grpc.StatusCode.INVALID_ARGUMENT, "trace.name"),
    (dict(upload_id="feedface"), grpc.StatusCode.NOT_FOUND, "feedface"),
])
def test_bad_replay_requests_are_refused_before_a_run_exists(stack, replay_req, stored, change, code, named) -> None:
    request = replay_req()
    if "trace" in change:
        request.trace.name = change.pop("trace")
    if "upload_id" in change:
        request.trace.upload_id = change.pop("upload_id")
    for field, value in change.items():
        setattr(request.spec, field, value)
    error = rpc_error(lambda: stack.controller.StartReplay(request))
    assert error.code() is code and named in error.details()
    assert [r.run_id for r in stack.controller.ListRuns(controller_pb2.ListRunsRequest()).runs] == [stored.run_id]
    assert_unharmed(stack, stored)


def test_a_bad_sweep_axis_names_itself(stack, replay_req) -> None:
    axes = [controller_pb2.SweepAxis(field="colour", values=["red"])]
    request = controller_pb2.SweepRequest(base=replay_req(), axes=axes)
    error = rpc_error(lambda: stack.controller.StartSweep(request))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT and "axes[0].field" in error.details()


def test_unknown_runs_are_not_found(stack) -> None:
    for call in (lambda: stack.controller.GetRun(controller_pb2.GetRunRequest(run_id="nope")),
                 lambda: stack.controller.CancelRun(controller_pb2.CancelRunRequest(run_id="nope")),
                 lambda: list(stack.controller.WatchRun(controller_pb2.WatchRunRequest(run_id="nope")))):
        assert rpc_error(call).code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("token", [None, "guess"])
def test_a_missing_or_wrong_token_is_unauthenticated(make_stack, sqlite_url, replay_req, token) -> None:
    secured = make_stack(sqlite_url, security=Security(token="right"))
    with open_channel(secured.controller_addr, Security(token=token)) as channel:
        error = rpc_error(lambda: controller_pb2_grpc.ControllerStub(channel).StartReplay(replay_req()))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    run = secured.wait(secured.controller.StartReplay(replay_req(limit=5)).run_id)  # the stack's own clients hold it
    assert run.status == "complete"
