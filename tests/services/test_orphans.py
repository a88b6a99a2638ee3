"""Runs whose process died (real processes; SQLite and PostgreSQL): no run stays `running` after
its lease. Any command that opens the store, and a controller while it runs, reclaims a run whose
lease expired: it ends interrupted with a summary of exactly the records it stored; cancel and
delete work on such a run rather than refusing it as running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import grpc
import pytest
from sqlalchemy.exc import SQLAlchemyError

from services.common.channel import open_channel
from services.store import Store, open_store
from services.store.db import create_store_engine
from services.up import LocalStack
from twin.metrics import RequestRecord
from twin_api.v1 import controller_pb2, controller_pb2_grpc

from test_ownership import wait_for  # this folder is on sys.path (no __init__): one polling helper

LEASE_S = 3.0  # longer than the 1 s between a live run's batches (twin.replay.SINK_EVERY_S)
LONG = ["replay", "azure-conv-2023", "--limit", "20000", "--fidelity", "layer", "--model", "opt-1.3b", "--tp", "1",
        "--no-progress", "--json"]


def peek(db_url: str) -> Store:
    """The store without `open_store`'s reclaiming: what a run's row says before anyone looks."""
    return Store(create_store_engine(db_url))


def first_batch(db_url: str) -> str:
    def stored():
        with peek(db_url) as store:
            try:
                runs = store.list_runs()
            except SQLAlchemyError:  # the replay has not created the schema yet
                return None
            return runs and runs[0].requests_recorded and runs[0].id
    return wait_for(stored, what="the first stored batch")


def twin(db_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-m", "services.cli", "--db", db_url, *args],
                          capture_output=True, text=True, timeout=120)


def assert_summarises_what_it_stored(db_url: str, run_id: str, status: str) -> None:
    with peek(db_url) as store:
        row = store.get_run(run_id)
        kept = store.request_records(run_id, limit=1_000_000)
    assert row.status == status, row.error
    assert row.summary["status"] == status and row.summary["source"] == "stored records"
    assert 0 < len(kept) == row.requests_recorded == row.summary["requests"]["total"] < 20000
    assert row.summary["requests"]["done"] == sum(r.state == "done" for r in kept)


def test_a_sigkilled_cli_process_group_is_reclaimed_by_the_next_command(db_url) -> None:
    cli = subprocess.Popen([sys.executable, "-P", "-m", "services.cli", "--db", db_url, *LONG],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                           env={**os.environ, "TWIN_RUN_LEASE_S": str(LEASE_S)})
    try:
        run_id = first_batch(db_url)
    finally:
        os.killpg(cli.pid, signal.SIGKILL)  # the CLI and its store writer: nobody marks the run
        cli.communicate(timeout=30)
    with peek(db_url) as store:
        assert store.get_run(run_id).status == "running"  # its lease still runs
    time.sleep(LEASE_S + 0.5)
    listed = twin(db_url, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    assert (run["run_id"], run["status"]) == (run_id, "interrupted")
    assert "lease expired" in run["error"] and "twin runs list" not in run["error"]
    assert_summarises_what_it_stored(db_url, run_id, "interrupted")
    deleted = twin(db_url, "runs", "delete", run_id[:8])
    assert (deleted.returncode, deleted.stdout) == (0, f"deleted run {run_id}\n"), deleted.stderr


RESTART_LEASE_S = 10.0  # a controller's start on a loaded 2-core machine has taken 6 s: the restart must fit


def test_a_controller_restarted_within_the_lease_reclaims_the_old_run_when_it_expires(db_url, replay_req) -> None:
    stack = LocalStack(port=0, db=db_url, env={**os.environ, "TWIN_RUN_LEASE_S": str(RESTART_LEASE_S)})
    try:
        cluster = "ipv4:" + stack.spawn("cluster0", ["serve", "cluster"], 0)
        stack.spawn("controller", ["serve", "controller", "--cluster", cluster], 0)
        with open_channel(stack.addrs["controller"], stack.security) as channel:
            run_id = controller_pb2_grpc.ControllerStub(channel).StartReplay(
                replay_req(limit=20000, fidelity="layer"), timeout=30).run_id
        first_batch(db_url)
        os.kill(stack.processes["controller"].pid, signal.SIGKILL)
        stack.processes["controller"].wait(10)
        restarted_at = time.monotonic()
        stack.spawn("controller-b", ["serve", "controller", "--cluster", cluster], 0)
        assert time.monotonic() - restarted_at < RESTART_LEASE_S  # within the lease: the test's premise
        with peek(db_url) as store:
            assert store.get_run(run_id).status == "running"
        with open_channel(stack.addrs["controller-b"], stack.security) as channel:
            second = controller_pb2_grpc.ControllerStub(channel)
            get = lambda: second.GetRun(controller_pb2.GetRunRequest(run_id=run_id), timeout=10)  # noqa: E731
            ended = wait_for(lambda: get().status != "running" and get(), 3 * RESTART_LEASE_S,
                             what="the old run to be reclaimed")
        assert time.monotonic() - restarted_at < 3 * RESTART_LEASE_S
        assert ended.status == "interrupted" and "taken over by controller" in ended.error
        assert_summarises_what_it_stored(db_url, run_id, "interrupted")
    finally:
        stack.stop()


def orphan(db_url: str, records: int = 3) -> str:
    """A run whose owner stored `records` records and died: its lease (0.05 s) has expired."""
    with peek(db_url) as store:
        dead = Store(store.engine, owner="twin replay on gone, pid 1", lease_s=0.05)
        run_id = dead.create_run(kind="replay", trace="t", spec={"slo": {"ttft_s": 1.0}}, policy={})
        dead.append(run_id, [RequestRecord(i, 0, "done", 0.0, 10, 5, 0.5 + i, 5.0, 0, "") for i in range(records)], [])
    time.sleep(0.1)
    return run_id


def test_a_controller_cancels_and_deletes_runs_nobody_drives(db_url, make_stack) -> None:
    stack = make_stack(db_url)
    cancelled = stack.controller.CancelRun(controller_pb2.CancelRunRequest(run_id=orphan(db_url)))
    assert cancelled.status == "cancelled" and "lease expired" in cancelled.error
    summary = json.loads(cancelled.summary_json)
    assert summary["requests"] == {"total": 3, "done": 3, "rejected": 0, "preempted": 0}
    assert summary["slo"]["attained"] == 1 / 3  # only request 0 had its first token within 1 s
    gone = orphan(db_url)
    assert stack.controller.DeleteRun(controller_pb2.DeleteRunRequest(run_id=gone)).run_id == gone
    live = stack.store.create_run(kind="replay", trace="t", spec={}, policy={})  # this process, lease 300 s
    with pytest.raises(grpc.RpcError) as refused:
        stack.controller.CancelRun(controller_pb2.CancelRunRequest(run_id=live))
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == f"run {live} is driven by {stack.store.owner}, not by this controller: cancel it there"


def test_the_cli_names_the_process_that_drives_a_live_run(db_url) -> None:
    with open_store(db_url) as store:
        live = store.create_run(kind="replay", trace="t", spec={}, policy={})
    for command in (["runs", "cancel", live], ["runs", "delete", live]):
        done = twin(db_url, *command)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert f"run {live} is" in done.stderr and f"pid {os.getpid()}" in done.stderr
    with peek(db_url) as store:
        assert store.get_run(live).status == "running"
