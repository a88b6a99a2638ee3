"""Several processes on one database (real processes; SQLite and PostgreSQL): a controller that
starts leaves the live runs of another controller or of a CLI replay alone, and takes over only
a run whose owner died and whose lease ran out, saying so in the run's error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from services.common.channel import open_channel
from services.store import open_store
from services.up import LocalStack
from twin_api.v1 import controller_pb2_grpc

LEASE_S = 4.0
# Long enough to be running through everything the tests do, on the compiled core too (the whole trace in
# layer fidelity); they stop it, never wait for it.
LONG = ["replay", "azure-conv-2023", "--limit", "20000", "--fidelity", "layer", "--model", "opt-1.3b", "--tp", "1"]


def wait_for(condition, timeout_s: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def recorded(db_url: str, run_id: str) -> int:
    with open_store(db_url) as store:
        return store.get_run(run_id).requests_recorded


def test_a_second_controller_leaves_a_live_run_and_takes_over_a_dead_ones(db_url, replay_req) -> None:
    env = {**os.environ, "TWIN_RUN_LEASE_S": str(LEASE_S)}
    stack = LocalStack(port=0, db=db_url, env=env)
    try:
        cluster = "ipv4:" + stack.spawn("cluster0", ["serve", "cluster"], 0)
        stack.spawn("controller", ["serve", "controller", "--cluster", cluster], 0)
        with open_channel(stack.addrs["controller"], stack.security) as channel:
            first = controller_pb2_grpc.ControllerStub(channel)
            run_id = first.StartReplay(replay_req(limit=20000, fidelity="layer"), timeout=30).run_id
            wait_for(lambda: recorded(db_url, run_id) > 0, what="the first batch")
            stack.spawn("controller-b", ["serve", "controller", "--cluster", cluster], 0)
            before = recorded(db_url, run_id)
            wait_for(lambda: recorded(db_url, run_id) > before, what="the run to go on beside controller-b")
        owner = stack.processes["controller"].pid
        os.kill(owner, signal.SIGKILL)  # dies without marking anything
        stack.processes["controller"].wait(10)
        with open_store(db_url) as store:
            assert store.get_run(run_id).status == "running"
        time.sleep(LEASE_S + 0.5)
        stack.spawn("controller-c", ["serve", "controller", "--cluster", cluster], 0)
        with open_store(db_url) as store:
            row = store.get_run(run_id)
            assert row.status == "interrupted"
            assert "taken over by controller" in row.error and f"pid {owner})" in row.error
            assert "lease expired" in row.error
            assert len(store.request_records(row.id, limit=100_000)) == row.requests_recorded > before
    finally:
        stack.stop()


def test_a_cli_replay_beside_a_controller_keeps_its_run_and_sigterm_marks_it(db_url, tmp_path) -> None:
    cli = subprocess.Popen([sys.executable, "-P", "-m", "services.cli", "--db", db_url, *LONG, "--no-progress", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "TWIN_RUN_LEASE_S": str(LEASE_S)})
    stack = LocalStack(port=0, db=db_url)
    try:
        run_id = wait_for(lambda: _only_run(db_url), what="the CLI's run")
        wait_for(lambda: recorded(db_url, run_id) > 0, what="the CLI's first batch")
        # A controller takes over expired runs at start-up (it needs no live cluster for that): this one is live.
        stack.spawn("controller", ["serve", "controller", "--cluster", "ipv4:127.0.0.1:9"], 0)
        before = recorded(db_url, run_id)
        wait_for(lambda: recorded(db_url, run_id) > before, what="the CLI run to go on beside the controller")
        cli.send_signal(signal.SIGTERM)
        out, err = cli.communicate(timeout=60)
        assert cli.returncode == 143, err
        assert "Traceback" not in err
        with open_store(db_url) as store:
            row = store.get_run(run_id)
            assert (row.status, row.error) == ("interrupted", "terminated (SIGTERM)")
            stored = store.request_records(run_id, limit=100_000)
            assert len(stored) == row.requests_recorded == row.summary["requests"]["total"]
            assert row.summary["requests"]["done"] == sum(r.state == "done" for r in stored)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
        stack.stop()


def _only_run(db_url: str) -> str | None:
    with open_store(db_url) as store:
        runs = store.list_runs()
    return runs[0].id if runs else None
