"""ClusterTwin over a real server on port 0: the twin's life cycle and its error codes."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator

import grpc
import pytest

from services.cluster.servicer import create_server
from services.cluster.twins import TwinRegistry
from services.cluster import ops
from services.common import columns, convert
from services.common.channel import open_channel
from services.common.security import Security
from twin.replay import RunSpec, replay, slice_seconds
from twin.traces import TraceOptions, load_trace
from twin_api.v1 import cluster_pb2, cluster_pb2_grpc, common_pb2

SPEC = common_pb2.TwinSpec(server="lpu-8x-4nm", model="opt-1.3b", tp=1)


@pytest.fixture
def stub() -> Iterator[cluster_pb2_grpc.ClusterTwinStub]:
    server, port = create_server("127.0.0.1:0", TwinRegistry(max_twins=3))
    server.start()
    with open_channel(f"127.0.0.1:{port}", Security()) as channel:
        yield cluster_pb2_grpc.ClusterTwinStub(channel)
    server.stop(0)


@pytest.fixture
def requests():
    return load_trace("azure-conv-2023", TraceOptions(limit=20, max_context=2048)).requests


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), caught.value.details()


def test_a_twin_driven_by_unary_calls_matches_the_embedded_replay(stub, requests) -> None:
    twin = stub.CreateTwin(cluster_pb2.CreateTwinRequest(spec=SPEC))
    msgs = [convert.trace_request_msg(r) for r in requests]
    stub.Submit(cluster_pb2.SubmitRequest(twin_id=twin.twin_id, requests=msgs))
    progress = stub.Advance(cluster_pb2.AdvanceRequest(twin_id=twin.twin_id))
    batches = list(stub.Drain(cluster_pb2.DrainRequest(twin_id=twin.twin_id, batch_records=7)))
    records = [convert.record(r) for b in batches for r in b.requests]
    embedded = RunSpec("lpu-8x-4nm", "opt-1.3b").build()
    for r in requests:
        embedded.submit(r)
    embedded.run()
    assert (progress.finished, progress.submitted, progress.now_s) == (20, 20, embedded.now_s)
    assert records == embedded.recorder.requests
    assert batches[-1].last and not any(b.last for b in batches[:-1]) and all(len(b.requests) <= 7 for b in batches)


def test_columns_in_and_out_drive_the_same_twin_as_messages(stub, requests, monkeypatch) -> None:
    monkeypatch.setattr(ops, "MAX_BATCH", 6)  # the server's cap wins over what the client asks
    twin = stub.CreateTwin(cluster_pb2.CreateTwinRequest(spec=SPEC))
    head = [convert.trace_request_msg(r) for r in requests[:5]]  # messages first, then columns
    stub.Submit(cluster_pb2.SubmitRequest(twin_id=twin.twin_id, requests=head,
                                          columns=columns.trace_columns(requests[5:])))
    stub.Advance(cluster_pb2.AdvanceRequest(twin_id=twin.twin_id))
    batches = list(stub.Drain(cluster_pb2.DrainRequest(twin_id=twin.twin_id, batch_records=1000, columns=True)))
    records = [r for b in batches for r in columns.records(b.request_columns)]
    samples = [s for b in batches for s in columns.samples(b.sample_columns)]
    embedded = RunSpec("lpu-8x-4nm", "opt-1.3b").build()
    for r in requests:
        embedded.submit(r)
    embedded.run()
    assert records == embedded.recorder.requests and samples == embedded.recorder.series
    assert all(len(b.request_columns.request_id) + len(b.sample_columns.t_s) <= 6 for b in batches)
    assert not any(b.requests or b.samples for b in batches)  # columns only, not both


def test_an_advance_in_steps_ends_where_the_embedded_replay_ends(stub, requests) -> None:
    twin = stub.CreateTwin(cluster_pb2.CreateTwinRequest(spec=SPEC))
    stub.Submit(cluster_pb2.SubmitRequest(twin_id=twin.twin_id, columns=columns.trace_columns(requests)))
    step = slice_seconds(requests)
    progress = stub.Advance(cluster_pb2.AdvanceRequest(twin_id=twin.twin_id, until_s=5e4, step_s=step))
    embedded = RunSpec("lpu-8x-4nm", "opt-1.3b").build()
    replay(embedded, requests)  # its own loop of slices, stopped once everything finished
    assert (progress.finished, progress.now_s) == (20, embedded.now_s)
    assert progress.now_s < 5e4 and progress.now_s / step == pytest.approx(round(progress.now_s / step))
    for step_s in (-1.0, 1e-3):  # negative; a billion steps, over the 100,000 one Advance may take
        bad = cluster_pb2.AdvanceRequest(twin_id=twin.twin_id, until_s=1e6 + 1.0, step_s=step_s)
        got, details = code_of(lambda: stub.Advance(bad))
        assert got is grpc.StatusCode.INVALID_ARGUMENT and "step_s" in details


def test_columns_of_different_lengths_are_invalid_argument(stub, requests) -> None:
    twin = stub.CreateTwin(cluster_pb2.CreateTwinRequest(spec=SPEC))
    bad = columns.trace_columns(requests[:3])
    bad.input_tokens.pop()
    got, details = code_of(lambda: stub.Submit(cluster_pb2.SubmitRequest(twin_id=twin.twin_id, columns=bad)))
    assert got is grpc.StatusCode.INVALID_ARGUMENT and "columns.input_tokens" in details


def test_components_policy_summary_and_delete(stub) -> None:
    twin = stub.CreateTwin(cluster_pb2.CreateTwinRequest(spec=SPEC))
    hbm = stub.GetComponent(cluster_pb2.ComponentRequest(twin_id=twin.twin_id, path="server0/chip3/hbm"))
    ring_spec = common_pb2.TwinSpec(server="lpu-8x-4nm", model="opt-1.3b")  # tp=8: an ESL ring
    ring = stub.CreateTwin(cluster_pb2.CreateTwinRequest(spec=ring_spec))
    link = stub.GetComponent(cluster_pb2.ComponentRequest(twin_id=ring.twin_id, path="server0/esl/link2"))
    changed = stub.SetPolicy(cluster_pb2.SetPolicyRequest(twin_id=twin.twin_id,
                                                          policy=common_pb2.QuantPolicy(weights="int8", kv="int8")))
    summary = stub.Summarize(cluster_pb2.SummarizeRequest(twin_id=twin.twin_id, status="complete"))
    stub.DeleteTwin(cluster_pb2.DeleteTwinRequest(twin_id=twin.twin_id))
    assert hbm.state["channels"] == 64 and "busy_s" in link.state
    assert changed.policy == "w:int8/kv:int8"
    assert json.loads(summary.summary_json)["twin"]["policy"] == "w:int8/kv:int8"
    assert set(summary.components) == {f"replica{i}" for i in range(8)}
    gone = code_of(lambda: stub.Advance(cluster_pb2.AdvanceRequest(twin_id=twin.twin_id)))
    assert gone[0] is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("spec, code, named", [
    (common_pb2.TwinSpec(server="lpu-8x-4nm", model="gpt-9"), grpc.StatusCode.NOT_FOUND, "gpt-9"),
    (common_pb2.TwinSpec(server="no-such-server", model="opt-1.3b"), grpc.StatusCode.NOT_FOUND, "no-such-server"),
    (common_pb2.TwinSpec(server="lpu-8x-4nm", model="llama2-70b", tp=1), grpc.StatusCode.RESOURCE_EXHAUSTED, "GiB"),
    (common_pb2.TwinSpec(server="lpu-8x-4nm", model="opt-1.3b", tp=3), grpc.StatusCode.INVALID_ARGUMENT, "tp"),
    (common_pb2.TwinSpec(server="dgx-h100", model="mixtral-8x7b", tp=8, ep=2), grpc.StatusCode.INVALID_ARGUMENT,
     "ep is 1 or tp"),
    (common_pb2.TwinSpec(server="lpu-8x-4nm", model="opt-1.3b", serving=common_pb2.ServingConfig(router="random")),
     grpc.StatusCode.INVALID_ARGUMENT, "router"),
])
def test_bad_specs_get_the_right_code_and_name_the_culprit(stub, spec, code, named) -> None:
    got, details = code_of(lambda: stub.CreateTwin(cluster_pb2.CreateTwinRequest(spec=spec)))
    assert got is code and named in details


def test_an_expert_parallel_twin_over_grpc(stub, requests) -> None:
    """A TwinSpec with ep builds an expert-parallel twin (its summary's pool says so) that runs as the embedded
    one with the same spec does."""
    spec = common_pb2.TwinSpec(server="dgx-h100", model="mixtral-8x7b", ep=8,
                               serving=common_pb2.ServingConfig(moe_routing="skewed", expert_placement="by-popularity"))
    twin = stub.CreateTwin(cluster_pb2.CreateTwinRequest(spec=spec))
    stub.Submit(cluster_pb2.SubmitRequest(twin_id=twin.twin_id, requests=[convert.trace_request_msg(r)
                                                                          for r in requests]))
    progress = stub.Advance(cluster_pb2.AdvanceRequest(twin_id=twin.twin_id))
    summary = json.loads(stub.Summarize(cluster_pb2.SummarizeRequest(twin_id=twin.twin_id,
                                                                     status="complete")).summary_json)
    embedded = convert.run_spec(spec).build()
    for r in requests:
        embedded.submit(r)
    embedded.run()
    assert progress.now_s == embedded.now_s and embedded.pools[0].cluster.ep == 8
    assert summary["hardware"]["pools"]["both"]["experts"]["placement"] == "by-popularity"


def test_bad_requests_on_a_live_twin(stub) -> None:
    twin = stub.CreateTwin(cluster_pb2.CreateTwinRequest(spec=SPEC))
    stub.Advance(cluster_pb2.AdvanceRequest(twin_id=twin.twin_id, until_s=10.0))
    past = common_pb2.TraceRequest(request_id=1, arrival_s=1.0, input_tokens=10, output_tokens=5)
    assert code_of(lambda: stub.Submit(cluster_pb2.SubmitRequest(twin_id=twin.twin_id, requests=[past])))[0] \
        is grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: stub.Advance(cluster_pb2.AdvanceRequest(twin_id=twin.twin_id, until_s=5.0)))[0] \
        is grpc.StatusCode.FAILED_PRECONDITION
    unknown = cluster_pb2.ComponentRequest(twin_id=twin.twin_id, path="server0/gpu1")
    assert code_of(lambda: stub.GetComponent(unknown))[0] is grpc.StatusCode.NOT_FOUND


def test_too_many_twins_is_resource_exhausted(stub) -> None:
    for _ in range(3):
        stub.CreateTwin(cluster_pb2.CreateTwinRequest(spec=SPEC))
    assert code_of(lambda: stub.CreateTwin(cluster_pb2.CreateTwinRequest(spec=SPEC)))[0] \
        is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_session_owns_its_twin_for_the_life_of_the_stream(stub, requests) -> None:
    commands: queue.Queue = queue.Queue()
    replies = stub.Session(iter(commands.get, None), timeout=30)
    ask = lambda **c: (commands.put(cluster_pb2.SessionRequest(**c)), next(replies))[1]  # noqa: E731
    assert ask(create=cluster_pb2.CreateTwinRequest(spec=SPEC)).twin.replicas == 8
    ask(submit=cluster_pb2.SubmitRequest(requests=[convert.trace_request_msg(r) for r in requests]))
    assert ask(advance=cluster_pb2.AdvanceRequest()).progress.finished == 20
    assert len(ask(drain=cluster_pb2.DrainRequest()).records.requests) == 20
    summary = json.loads(ask(summarize=cluster_pb2.SummarizeRequest()).summary.summary_json)
    embedded = replay(RunSpec("lpu-8x-4nm", "opt-1.3b").build(), requests)
    commands.put(None)
    assert list(replies) == []
    assert summary["requests"] == embedded.summary["requests"]
    for _ in range(3):  # the session's twin is gone: there is room for three more
        stub.CreateTwin(cluster_pb2.CreateTwinRequest(spec=SPEC))


def test_a_session_must_start_with_create(stub) -> None:
    replies = stub.Session(iter([cluster_pb2.SessionRequest(advance=cluster_pb2.AdvanceRequest())]), timeout=10)
    with pytest.raises(grpc.RpcError) as caught:
        list(replies)
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
