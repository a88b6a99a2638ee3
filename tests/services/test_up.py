"""`twin up`'s local stack: every service its own process; the CLI replays through it; SIGTERM
to the controller mid-run leaves the run interrupted with its records, nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import threading

import grpc
from click.testing import CliRunner
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.cli import cli
from services.common.channel import open_channel
from services.common.security import Security
from services.store import open_store
from services.up import LocalStack, Restarts
from twin_api.v1 import controller_pb2, controller_pb2_grpc, metrics_pb2, metrics_pb2_grpc

REPLAY = ["replay", "azure-conv-2023", "--limit", "20", "--server", "lpu-8x-4nm", "--model", "opt-1.3b", "--tp", "1"]


def test_the_local_stack_serves_the_cli_and_shuts_down_gracefully(tmp_path, replay_req) -> None:
    db = f"sqlite:///{tmp_path / 'twin.db'}"
    stack = LocalStack(port=0, clusters=2, db=db)
    stack.start()
    try:
        assert stack.token  # auth is on by default: a token was generated and every child requires it
        result = CliRunner().invoke(cli, ["--controller", stack.addrs["controller"], *REPLAY, "--watch", "--json"],
                                    env={"TWIN_AUTH_TOKEN": stack.token})
        assert result.exit_code == 0, result.output
        first = json.loads(result.output)
        with open_channel(stack.addrs["controller"], stack.security) as channel:
            run_id = _interrupt_mid_run(stack, controller_pb2_grpc.ControllerStub(channel), replay_req)
        assert stack.processes["controller"].wait(60) == 0
        with open_store(db) as store:
            row = store.get_run(run_id)
            assert row.status == "interrupted" and "shut down" in row.error
            assert row.summary["status"] == "interrupted"
            assert len(store.request_records(run_id)) == row.requests_recorded == row.summary["requests"]["total"]
            assert store.get_run(first["run_id"]).summary == first["summary"]
        with open_channel(stack.addrs["metrics"], stack.security) as channel:
            summary = metrics_pb2_grpc.MetricsStub(channel).GetSummary(
                metrics_pb2.GetSummaryRequest(run_id=first["run_id"]), timeout=10)
        assert (first["status"], summary.status) == ("complete", "complete")
    finally:
        stack.stop()


def _interrupt_mid_run(stack: LocalStack, stub, replay_req) -> str:
    run = stub.StartReplay(replay_req(limit=200, fidelity="layer"), timeout=30)  # seconds of work
    watch = stub.WatchRun(controller_pb2.WatchRunRequest(run_id=run.run_id), timeout=60)
    next(p for p in watch if p.finished > 0)
    stack.processes["controller"].send_signal(signal.SIGTERM)
    statuses = [p.status for p in watch]  # the controller marks the run before it stops serving the watch
    assert statuses and statuses[-1] == "interrupted", statuses
    return run.run_id


def test_replay_without_watch_only_starts_the_run(stack) -> None:
    result = CliRunner().invoke(cli, ["--controller", stack.controller_addr, *REPLAY])
    assert result.exit_code == 0 and "started run" in result.output
    run_id = result.output.split("started run ")[1].split()[0]
    assert stack.wait(run_id).status == "complete"


def test_a_bad_spec_through_the_cli_names_the_field(stack) -> None:
    result = CliRunner().invoke(cli, ["--controller", stack.controller_addr, *REPLAY[:-2], "--tp", "3", "--watch"])
    assert result.exit_code == 1 and "INVALID_ARGUMENT" in result.output and "tp" in result.output


def test_a_killed_replica_is_restarted_on_its_address(tmp_path, replay_req) -> None:
    stack = LocalStack(port=0, clusters=1, db=f"sqlite:///{tmp_path / 'twin.db'}")
    stack.start()
    stop = threading.Event()
    supervisor = threading.Thread(target=lambda: codes.append(stack.supervise(stop, Restarts(backoff_s=0.1),
                                                                              poll_s=0.1)))
    codes: list[int] = []
    try:
        supervisor.start()
        dead, addr = stack.processes["cluster0"].pid, stack.addrs["cluster0"]
        os.kill(dead, signal.SIGKILL)
        for _ in range(600):
            if stack.processes["cluster0"].pid != dead and _serving(addr):
                break
            threading.Event().wait(0.1)
        assert stack.processes["cluster0"].pid != dead and _serving(addr)
        with open_channel(stack.addrs["controller"], stack.security) as channel:
            stub = controller_pb2_grpc.ControllerStub(channel)
            run = stub.StartReplay(replay_req(limit=5), timeout=30)
            final = [p.status for p in stub.WatchRun(controller_pb2.WatchRunRequest(run_id=run.run_id), timeout=120)]
        assert final[-1] == "complete"  # the controller's target (the old address) reaches the new replica
    finally:
        stop.set()
        supervisor.join(30)
        stack.stop()
    assert codes == [0]


def test_a_child_that_keeps_dying_stops_the_stack_with_exit_code_1(tmp_path) -> None:
    stack = LocalStack(port=0, clusters=1, db=f"sqlite:///{tmp_path / 'twin.db'}")
    stack.spawn("cluster0", ["serve", "cluster"], 0)
    try:
        stack.commands["cluster0"] = ["serve", "cluster", "--max-twins", "many"]  # every restart fails at once
        stack.processes["cluster0"].kill()
        code = stack.supervise(threading.Event(), Restarts(backoff_s=0.01, max_restarts=2), poll_s=0.05)
    finally:
        stack.stop()
    assert code == 1


def _serving(addr: str) -> bool:
    with open_channel(addr, Security()) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING
