"""The metrics service reads stored runs back: summaries, paged records, series, comparisons."""

from __future__ import annotations

import json
import math

import grpc
import pytest

from services.common import convert
from twin_api.v1 import metrics_pb2


@pytest.fixture
def two_runs(stack, replay_req) -> list[str]:
    slow = replay_req(limit=25)
    fast = replay_req(limit=25)
    fast.spec.policy.weights = "int8"  # half the bytes to stream per decode step
    return [stack.wait(stack.controller.StartReplay(r).run_id).run_id for r in (slow, fast)]


def test_summary_and_components(stack, two_runs) -> None:
    got = stack.metrics.GetSummary(metrics_pb2.GetSummaryRequest(run_id=two_runs[0]))
    assert got.status == "complete"
    assert json.loads(got.summary_json) == stack.store.get_run(two_runs[0]).summary
    assert set(got.components) == {f"replica{i}" for i in range(8)} and "busy_s" in got.components["replica0"].values


def test_request_records_stream_in_pages(stack, two_runs) -> None:
    pages = list(stack.metrics.StreamRequests(metrics_pb2.StreamRequestsRequest(run_id=two_runs[1], page_size=10)))
    assert [(p.offset, len(p.records)) for p in pages] == [(0, 10), (10, 10), (20, 5)]
    assert [convert.record(r) for p in pages for r in p.records] == stack.store.request_records(two_runs[1])
    tail = list(stack.metrics.StreamRequests(metrics_pb2.StreamRequestsRequest(run_id=two_runs[1], offset=20)))
    assert [len(p.records) for p in tail] == [5]


def test_series_whole_and_by_name(stack, two_runs) -> None:
    everything = stack.metrics.GetSeries(metrics_pb2.GetSeriesRequest(run_id=two_runs[0])).samples
    name = everything[0].name
    one = stack.metrics.GetSeries(metrics_pb2.GetSeriesRequest(run_id=two_runs[0], name=name)).samples
    assert len(everything) == stack.store.get_run(two_runs[0]).series_recorded
    assert one and all(s.name == name for s in one)


def test_compare_puts_runs_side_by_side(stack, two_runs) -> None:
    table = stack.metrics.CompareRuns(metrics_pb2.CompareRunsRequest(run_ids=two_runs))
    rows = {row.metric: list(row.values) for row in table.rows}
    assert list(table.run_ids) == two_runs
    # OPT-1.3B's 2K context: longer conversations are rejected (and counted) in both runs
    assert [d + r for d, r in zip(rows["requests.done"], rows["requests.rejected"])] == [25.0, 25.0]
    assert rows["tpot_s.p50"][0] > rows["tpot_s.p50"][1]
    assert all(math.isnan(v) for v in rows["slo.attained"])  # no SLO was set


@pytest.mark.parametrize("call, code", [
    (lambda m: m.GetSummary(metrics_pb2.GetSummaryRequest(run_id="nope")), grpc.StatusCode.NOT_FOUND),
    (lambda m: list(m.StreamRequests(metrics_pb2.StreamRequestsRequest(run_id="nope"))), grpc.StatusCode.NOT_FOUND),
    (lambda m: m.GetSeries(metrics_pb2.GetSeriesRequest(run_id="nope")), grpc.StatusCode.NOT_FOUND),
    (lambda m: m.CompareRuns(metrics_pb2.CompareRunsRequest(run_ids=["a"])), grpc.StatusCode.INVALID_ARGUMENT),
    (lambda m: list(m.StreamRequests(metrics_pb2.StreamRequestsRequest(run_id="x", page_size=10**6))),
     grpc.StatusCode.INVALID_ARGUMENT),
])
def test_bad_reads(stack, call, code) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(stack.metrics)
    assert caught.value.code() is code
