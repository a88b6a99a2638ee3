"""A run's lifecycle: created RUNNING, ended once in a final status, never silently partial."""

from __future__ import annotations

import math
import time
from datetime import UTC

import pytest

from services.store import Store
from twin.errors import InvalidSpec, NotRunning, UnknownName
from twin.metrics import RequestRecord, SeriesSample

SPEC = {"cluster": {"replicas": 2, "chip": "lpu-v1"}, "rates": [0.5, 1.25], "seed": None}
POLICY = {"router": "least_loaded", "scheduler": {"name": "fcfs", "max_batch": 64}}
RECORD = RequestRecord(1, 0, "done", 0.5, 128, 16, 0.75, 1.5, 0)
FINAL = ["complete", "failed", "interrupted", "cancelled"]


def new_run(store, kind="replay"):
    return store.create_run(kind=kind, trace="azure_conv", spec=SPEC, policy=POLICY)


def test_created_run_is_running_with_its_inputs(store):
    run = store.get_run(new_run(store))
    assert (run.kind, run.trace, run.status) == ("replay", "azure_conv", "running")
    assert (run.spec, run.policy, run.summary) == (SPEC, POLICY, None)
    assert run.created_at.tzinfo is UTC and run.finished_at is None
    assert (run.requests_recorded, run.series_recorded, run.error) == (0, 0, "")
    assert len(run.id) == 32


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get_run("nope"),
        lambda s: s.append("nope", [RECORD], []),
        lambda s: s.finish("nope", "complete", {}),
        lambda s: s.mark_interrupted("nope", "x"),
        lambda s: s.request_records("nope"),
        lambda s: s.series("nope"),
        lambda s: s.components("nope"),
    ],
)
def test_unknown_run_id_is_unknown_name(store, call):
    with pytest.raises(UnknownName) as caught:
        call(store)
    assert (caught.value.kind, caught.value.name) == ("run", "nope")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(kind="replay", trace="t", spec={"x": object()}, policy={}), "spec"),
        (dict(kind="replay", trace="t", spec={}, policy={"x": {1, 2}}), "policy"),
        (dict(kind="simulate", trace="t", spec={}, policy={}), "kind"),
    ],
)
def test_bad_run_inputs_are_invalid_spec(store, kwargs, field):
    with pytest.raises(InvalidSpec) as caught:
        store.create_run(**kwargs)
    assert caught.value.field == field
    assert store.list_runs() == []


def test_complete_run_keeps_summary_and_components(store):
    run_id = new_run(store)
    summary = {"ttft_s": {"p50": 0.125, "p99": 1.0 / 3}, "done": 10, "nan_is_null": math.nan}
    components = {"replica0/chip3/hbm": {"util": 0.71, "peak_bytes": 3.5e10}}
    store.finish(run_id, "complete", summary, components)
    run = store.get_run(run_id)
    assert run.status == "complete" and run.finished_at >= run.created_at
    assert run.summary == {**summary, "nan_is_null": None}  # JSON has no NaN
    assert store.components(run_id) == components


@pytest.mark.parametrize("status", FINAL[1:])
def test_run_can_end_without_summary_and_keep_its_error(store, status):
    run_id = new_run(store)
    store.append(run_id, [RECORD], [])
    store.finish(run_id, status, None, error="replica 1 lost")
    run = store.get_run(run_id)
    assert (run.status, run.summary, run.error) == (status, None, "replica 1 lost")
    assert store.request_records(run_id) == [RECORD]


@pytest.mark.parametrize("status", FINAL)
def test_an_ended_run_cannot_end_again_or_grow(store, status):
    run_id = new_run(store)
    store.finish(run_id, status, {"done": 1})
    with pytest.raises(NotRunning, match=status):
        store.finish(run_id, "failed", None, error="late")
    with pytest.raises(NotRunning):
        store.append(run_id, [RECORD], [SeriesSample(0.0, "q", 1.0)])
    run = store.get_run(run_id)
    assert (run.status, run.error, run.requests_recorded) == (status, "", 0)
    assert store.request_records(run_id) == []


@pytest.mark.parametrize(
    "status, summary, field",
    [("running", {}, "status"), ("done", {}, "status"), ("complete", None, "summary")],
)
def test_bad_finish_is_invalid_spec_and_leaves_run_running(store, status, summary, field):
    run_id = new_run(store)
    with pytest.raises(InvalidSpec) as caught:
        store.finish(run_id, status, summary)
    assert caught.value.field == field
    assert store.get_run(run_id).status == "running"


def test_mark_interrupted_only_ends_running_runs(store):
    running, done = new_run(store), new_run(store)
    store.append(running, [RECORD], [])
    store.finish(done, "complete", {})
    assert store.mark_interrupted(running, "SIGTERM") is True
    assert store.mark_interrupted(done, "SIGTERM") is False
    interrupted = store.get_run(running)
    assert (interrupted.status, interrupted.error) == ("interrupted", "SIGTERM")
    assert store.get_run(done).status == "complete"
    assert store.request_records(running) == [RECORD]


def test_only_runs_whose_lease_expired_are_taken_over(store):
    live = new_run(store)
    dead_owner = Store(store.engine, owner="controller on gone, pid 1", lease_s=0.05)
    stale = [new_run(dead_owner), new_run(dead_owner, kind="sweep")]
    done = new_run(dead_owner)
    dead_owner.finish(done, "complete", {})
    time.sleep(0.1)
    assert sorted(store.take_over_expired()) == sorted(stale)
    assert store.take_over_expired() == []
    for run_id in stale:
        run = store.get_run(run_id)
        assert run.status == "interrupted" and run.finished_at is not None
        assert "taken over by" in run.error and "controller on gone, pid 1" in run.error
        assert "lease expired" in run.error
    assert store.get_run(done).status == "complete"
    assert store.get_run(live).status == "running"
    store.append(live, [RECORD], [])  # the live run goes on


def test_appending_renews_the_lease(store):
    short = Store(store.engine, owner="a busy writer", lease_s=0.3)
    run_id = new_run(short)
    for _ in range(4):  # 0.4 s in all, longer than one lease, but renewed by every batch
        time.sleep(0.1)
        short.append(run_id, [RECORD], [])
    assert store.take_over_expired() == []
    time.sleep(0.35)
    assert store.take_over_expired() == [run_id]
    with pytest.raises(NotRunning, match="interrupted"):
        short.append(run_id, [RECORD], [])


def test_list_runs_newest_first_with_limit_and_status(store):
    ids = [new_run(store) for _ in range(4)]
    store.finish(ids[1], "failed", None, error="boom")
    assert [r.id for r in store.list_runs()] == ids[::-1]
    assert [r.id for r in store.list_runs(limit=2)] == ids[:1:-1]
    failed = store.list_runs(status="failed")
    assert [(r.id, r.status, r.error) for r in failed] == [(ids[1], "failed", "boom")]
    assert store.list_runs(status="cancelled") == []
    with pytest.raises(InvalidSpec):
        store.list_runs(status="finished")
    with pytest.raises(InvalidSpec):
        store.list_runs(limit=0)
