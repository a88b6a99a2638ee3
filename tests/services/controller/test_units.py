"""The controller's pieces without servers: sweep points, the fail-over sink, limits from the environment."""

from __future__ import annotations

import pytest

from services.controller import remote
from services.controller.remote import Slices, StoreSink, submit_chunks
from services.controller.runs import Limits
from twin.explore.sweep import sweep_points
from twin.errors import CapacityExceeded, InvalidSpec
from twin.metrics import RequestRecord, SeriesSample
from twin.replay import RunSpec
from twin.serving.request import TraceRequest
from twin_api.v1 import cluster_pb2
from services.common import columns

BASE = RunSpec("lpu-8x-4nm", "opt-1.3b", tp=1)


def test_sweep_points_are_the_cartesian_product() -> None:
    points = sweep_points(BASE, [("max_batch", ["8", "16"]), ("kv", ["fp16", "int8"])], max_points=8)
    assert [(p.spec.serving.max_batch, p.spec.kv) for p in points] == [(8, "fp16"), (8, "int8"), (16, "fp16"),
                                                                       (16, "int8")]
    assert all(p.error == "" for p in points)


def test_a_point_that_does_not_fit_is_kept_and_marked() -> None:
    points = sweep_points(BASE, [("model", ["opt-1.3b", "llama2-70b"])], max_points=8)
    assert [bool(p.error) for p in points] == [False, True] and "GiB" in points[1].error


@pytest.mark.parametrize("axes, error, field", [
    ([], InvalidSpec, "axes"),
    ([("colour", ["red"])], InvalidSpec, "axes[0].field"),
    ([("tp", ["two"])], InvalidSpec, "axes[0].values"),
    ([("max_batch", [])], InvalidSpec, "axes[0].values"),
    ([("max_batch", [str(i) for i in range(1, 10)])], CapacityExceeded, "at most 8"),
])
def test_bad_axes(axes, error, field) -> None:
    with pytest.raises(error, match=field.replace("[", r"\[").replace("]", r"\]")):
        sweep_points(BASE, axes, max_points=8)


def _records(n: int, start: int = 0) -> list[RequestRecord]:
    return [RequestRecord(i, 0, "done", 0.0, 1, 1, 0.1, 0.2, 0) for i in range(start, start + n)]


def test_the_sink_skips_what_an_earlier_attempt_stored() -> None:
    stored: list = []
    sink = StoreSink(lambda r, s, _after: stored.append((r, s)), batch=1)  # every call stored at once
    sink(_records(3), [SeriesSample(0.0, "x", 1.0)])
    sink(_records(2, start=3), [])
    sink.restart()  # a new replica replays from the start, the same records in the same order
    sink(_records(4), [SeriesSample(0.0, "x", 1.0)])
    sink(_records(3, start=4), [SeriesSample(1.0, "x", 2.0)])
    ids = [r.request_id for batch, _ in stored for r in batch]
    samples = [s.t_s for _, batch in stored for s in batch]
    assert ids == list(range(7)) and samples == [0.0, 1.0]


def test_the_sink_stores_in_batches_and_drops_what_a_lost_attempt_held() -> None:
    stored: list = []
    sink = StoreSink(lambda r, s, _after: stored.append([x.request_id for x in r]), batch=5, every_s=3600.0)
    sink(_records(3), [])
    assert stored == []  # held: fewer than a batch, and not yet a minute
    sink(_records(2, start=3), [])
    sink(_records(1, start=5), [])  # held when the replica is lost: never stored by this attempt
    sink.restart()
    sink(_records(6), [])  # the new replica makes 0..5 again: 0..4 are stored, 5 is held again
    sink(_records(2, start=6), [], final=True)
    assert stored == [[0, 1, 2, 3, 4], [5, 6, 7]]


def test_the_sink_stores_at_least_every_few_seconds() -> None:
    stored: list = []
    sink = StoreSink(lambda r, s, _after: stored.append(len(r)), batch=1000, every_s=0.0)  # a batch is always due
    sink(_records(1), [])
    sink([], [])  # an empty batch still goes: it renews the run's lease
    assert stored == [1, 0]


def _request(i: int, session: str = "", blocks: int = 0) -> TraceRequest:
    return TraceRequest(2**64 - 1 - i, float(i), 2**32 - 1, 2**32 - 1, session or None,
                        tuple(2**64 - 1 - b for b in range(blocks)), (2**32 - 1,) * blocks)


def test_submit_chunks_keep_the_order_and_fit_the_byte_budget(monkeypatch) -> None:
    monkeypatch.setattr(remote, "SUBMIT_CHUNK", 4)
    monkeypatch.setattr(remote, "SUBMIT_BYTES", 2000)
    requests = [_request(i, session="sé" * (i % 7) * 10, blocks=(i * 13) % 40) for i in range(30)]
    requests.append(_request(30, blocks=500))  # larger than the budget alone: sent alone
    chunks = list(submit_chunks(requests))
    assert [r for chunk in chunks for r in chunk] == requests
    assert all(len(c) <= 4 for c in chunks) and chunks[-1] == [requests[-1]]
    assert len(chunks) < 20  # requests do share messages: 31 requests, at most 4 a message
    for chunk in chunks[:-1]:  # the encoded message, measured by protobuf, within the budget
        assert cluster_pb2.SubmitRequest(columns=columns.trace_columns(chunk)).ByteSize() <= 2000


def test_a_full_submit_chunk_fits_the_message_limit() -> None:
    from services.common.server import MAX_MESSAGE_BYTES
    requests = [_request(i, session="x" * 36) for i in range(remote.SUBMIT_CHUNK)]
    chunks = list(submit_chunks(requests))
    assert len(chunks) == 1
    assert remote.SUBMIT_BYTES < MAX_MESSAGE_BYTES
    assert cluster_pb2.SubmitRequest(columns=columns.trace_columns(chunks[0])).ByteSize() <= remote.SUBMIT_BYTES


def test_an_advance_runs_more_slices_while_they_are_quick_and_fewer_when_slow() -> None:
    slices = Slices(wall_s=0.05)
    counts = [slices.next()] + [slices.next(took) for took in (0.01, 0.01, 0.01, 0.1, 0.3, 0.3, 0.3, 0.3)]
    assert counts == [1, 2, 4, 8, 8, 4, 2, 1, 1]  # 0.1 s is within 4x: the count holds
    assert max(slices.next(0.0) for _ in range(20)) == remote.MAX_SLICES


def test_limits_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("TWIN_MAX_ACTIVE_RUNS", "3")
    monkeypatch.setenv("TWIN_RUN_TIMEOUT_S", "12.5")
    limits = Limits.from_env()
    assert (limits.max_active_runs, limits.run_timeout_s, limits.attempts) == (3, 12.5, 3)
