"""The controller's pieces without servers: sweep points, the fail-over sink, limits from the environment."""

from __future__ import annotations

import pytest

from services.controller.remote import StoreSink
from services.controller.runs import Limits
from twin.explore.sweep import sweep_points
from twin.errors import CapacityExceeded, InvalidSpec
from twin.metrics import RequestRecord, SeriesSample
from twin.replay import RunSpec

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
    sink = StoreSink(lambda r, s: stored.append((r, s)))
    sink(_records(3), [SeriesSample(0.0, "x", 1.0)])
    sink(_records(2, start=3), [])
    sink.restart()  # a new replica replays from the start, the same records in the same order
    sink(_records(4), [SeriesSample(0.0, "x", 1.0)])
    sink(_records(3, start=4), [SeriesSample(1.0, "x", 2.0)])
    ids = [r.request_id for batch, _ in stored for r in batch]
    samples = [s.t_s for _, batch in stored for s in batch]
    assert ids == list(range(7)) and samples == [0.0, 1.0]


def test_limits_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("TWIN_MAX_ACTIVE_RUNS", "3")
    monkeypatch.setenv("TWIN_RUN_TIMEOUT_S", "12.5")
    limits = Limits.from_env()
    assert (limits.max_active_runs, limits.run_timeout_s, limits.attempts) == (3, 12.5, 3)
