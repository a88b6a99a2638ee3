"""`twin up`'s local stack: every service its own process; the CLI replays through it; SIGTERM
to the controller mid-run leaves the run interrupted with its records, nothing half-written."""

from __future__ import annotations

import json
import signal

from click.testing import CliRunner

from services.cli import cli
from services.common.channel import open_channel
from services.common.security import Security
from services.store import open_store
from services.up import LocalStack
from twin_api.v1 import controller_pb2, controller_pb2_grpc, metrics_pb2, metrics_pb2_grpc

REPLAY = ["replay", "azure-conv-2023", "--limit", "20", "--server", "lpu-8x-4nm", "--model", "opt-1.3b", "--tp", "1"]


def test_the_local_stack_serves_the_cli_and_shuts_down_gracefully(tmp_path, replay_req) -> None:
    db = f"sqlite:///{tmp_path / 'twin.db'}"
    stack = LocalStack(port=0, clusters=2, db=db)
    stack.start()
    try:
        result = CliRunner().invoke(cli, ["--controller", stack.addrs["controller"], *REPLAY, "--watch", "--json"])
        assert result.exit_code == 0, result.output
        first = json.loads(result.output)
        with open_channel(stack.addrs["controller"], Security()) as channel:
            run_id = _interrupt_mid_run(stack, controller_pb2_grpc.ControllerStub(channel), replay_req)
        assert stack.processes["controller"].wait(60) == 0
        with open_store(db) as store:
            row = store.get_run(run_id)
            assert row.status == "interrupted" and "shut down" in row.error
            assert row.summary["status"] == "interrupted"
            assert len(store.request_records(run_id)) == row.requests_recorded == row.summary["requests"]["total"]
            assert store.get_run(first["run_id"]).summary == first["summary"]
        with open_channel(stack.addrs["metrics"], Security()) as channel:
            summary = metrics_pb2_grpc.MetricsStub(channel).GetSummary(
                metrics_pb2.GetSummaryRequest(run_id=first["run_id"]), timeout=10)
        assert (first["status"], summary.status) == ("complete", "complete")
    finally:
        stack.stop()


def _interrupt_mid_run(stack: LocalStack, stub, replay_req) -> str:
    run = stub.StartReplay(replay_req(limit=100, fidelity="layer"), timeout=30)
    watch = stub.WatchRun(controller_pb2.WatchRunRequest(run_id=run.run_id), timeout=60)
    next(p for p in watch if p.finished > 0)
    stack.processes["controller"].send_signal(signal.SIGTERM)
    assert [p.status for p in watch][-1:] in (["interrupted"], [])  # the watch ends with the run, or with the server
    return run.run_id


def test_replay_without_watch_only_starts_the_run(stack) -> None:
    result = CliRunner().invoke(cli, ["--controller", stack.controller_addr, *REPLAY])
    assert result.exit_code == 0 and "started run" in result.output
    run_id = result.output.split("started run ")[1].split()[0]
    assert stack.wait(run_id).status == "complete"


def test_a_bad_spec_through_the_cli_names_the_field(stack) -> None:
    result = CliRunner().invoke(cli, ["--controller", stack.controller_addr, *REPLAY[:-2], "--tp", "3", "--watch"])
    assert result.exit_code == 1 and "INVALID_ARGUMENT" in result.output and "tp" in result.output
