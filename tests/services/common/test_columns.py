"""Column messages carry requests, records and samples exactly, missing values included."""

from __future__ import annotations

import numpy as np
import pytest

from services.common import columns
from twin.errors import InvalidSpec
from twin.metrics import RequestRecord, SeriesSample
from twin.serving.request import TraceRequest
from twin_api.v1 import common_pb2

RECORDS = [
    RequestRecord(0, 3, "done", 0.25, 512, 128, 0.5, 2.75, 2),
    RequestRecord(1, -1, "rejected", 0.5, 9000, 0, None, None, 0, "prompt longer than the context"),
    RequestRecord(2**64 - 1, 0, "done", 1e9, 2**32 - 1, 1, 1e9 + 0.125, None, 0),
]


def test_records_and_samples_come_back_equal() -> None:
    samples = [SeriesSample(0.0, "replica0/batch", 3.0), SeriesSample(1.5, "kv/occupancy", 0.125)]
    wire = common_pb2.RequestRecordColumns.FromString(columns.record_columns(RECORDS).SerializeToString())
    assert columns.records(wire) == RECORDS
    assert columns.records(wire)[1].first_token_s is None
    assert columns.samples(common_pb2.SeriesColumns.FromString(
        columns.sample_columns(samples).SerializeToString())) == samples


def test_numpy_scalars_from_the_core_are_accepted() -> None:
    record = RequestRecord(np.int64(7), np.int64(1), "done", np.float64(0.5), np.int64(10), np.int64(2),
                           np.float64(0.75), np.float64(1.0), np.int64(0))
    assert columns.records(columns.record_columns([record])) == [RequestRecord(7, 1, "done", 0.5, 10, 2, 0.75, 1.0, 0)]


@pytest.mark.parametrize("requests", [
    [TraceRequest(0, 0.0, 10, 5), TraceRequest(1, 0.5, 20, 6)],  # no sessions, no blocks: neither is sent
    [TraceRequest(0, 0.0, 10, 5, "s1", (11, 12), (16, 4)), TraceRequest(1, 0.5, 20, 6),
     TraceRequest(2, 0.75, 30, 7, None, (13,), (16,))],
    [TraceRequest(0, 0.0, 10, 5, "ä", (1, 2)), TraceRequest(1, 1.0, 20, 6, None, (3,))],  # blocks, no sizes
])
def test_trace_requests_come_back_equal(requests) -> None:
    msg = common_pb2.TraceColumns.FromString(columns.trace_columns(requests).SerializeToString())
    assert columns.trace_requests(msg) == requests


def test_a_common_trace_sends_no_session_or_block_columns() -> None:
    msg = columns.trace_columns([TraceRequest(0, 0.0, 10, 5), TraceRequest(1, 0.5, 20, 6)])
    assert (len(msg.session_id), len(msg.block_counts), len(msg.block_ids)) == (0, 0, 0)


@pytest.mark.parametrize("damage, field", [
    (lambda m: m.arrival_s.pop(), "columns.arrival_s"),
    (lambda m: m.session_id.append("x"), "columns.session_id"),
    (lambda m: m.block_ids.pop(), "columns.block_ids"),
    (lambda m: m.block_sizes.append(1), "columns.block_sizes"),
])
def test_columns_of_different_lengths_are_refused_by_name(damage, field) -> None:
    msg = columns.trace_columns([TraceRequest(0, 0.0, 10, 5, "a", (1,), (16,)),
                                 TraceRequest(1, 0.5, 20, 6, "b", (2,), (16,))])
    damage(msg)
    with pytest.raises(InvalidSpec, match=field.replace(".", r"\.")):
        columns.trace_requests(msg)


def test_record_columns_of_different_lengths_are_refused() -> None:
    msg = columns.record_columns(RECORDS)
    del msg.reason[0]
    with pytest.raises(InvalidSpec, match=r"request_columns\.reason"):
        columns.records(msg)
