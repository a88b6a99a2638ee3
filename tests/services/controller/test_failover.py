"""A cluster replica killed mid-run (a real process, SIGKILL): the run fails over, or is marked failed.

Either way the controller stays up and what was stored before is untouched.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common import convert
from services.common.channel import open_channel
from services.common.security import Security
from services.controller.runs import Limits, RunManager
from services.controller.servicer import ControllerServicer, create_server
from services.controller.uploads import UploadStore
from services.runner import stored_replay
from services.store import open_store
from services.up import LocalStack
from twin.traces import TraceOptions, load_trace
from twin_api.v1 import cluster_pb2_grpc, controller_pb2, controller_pb2_grpc


class Controller:
    """An in-process controller over cluster replicas that run as separate processes."""

    def __init__(self, url: str, replicas: int, attempts: int):
        self.replicas = LocalStack(port=0)
        addrs = [self.replicas.spawn(f"cluster{i}", ["serve", "cluster"], 0) for i in range(replicas)]
        self.store = open_store(url)
        self.cluster_channel = open_channel("ipv4:" + ",".join(addrs), self.replicas.security)
        cluster = cluster_pb2_grpc.ClusterTwinStub(self.cluster_channel)
        self.runs = RunManager(self.store, cluster, Limits(attempts=attempts))
        self.server, port = create_server("127.0.0.1:0", ControllerServicer(self.runs, UploadStore(), self.store))
        self.server.start()
        self.channel = open_channel(f"127.0.0.1:{port}", Security())
        self.stub = controller_pb2_grpc.ControllerStub(self.channel)

    def kill_replica_of(self, progress: controller_pb2.RunProgress) -> None:
        pid = int(progress.replica.rsplit("/", 1)[1])
        assert pid in {p.pid for p in self.replicas.processes.values()}
        os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        self.runs.shutdown()
        self.server.stop(0)
        self.channel.close()
        self.cluster_channel.close()
        self.replicas.stop()
        self.store.close()


@pytest.fixture
def controller_of(sqlite_url: str) -> Iterator:
    made: list[Controller] = []

    def make(replicas: int, attempts: int = 3) -> Controller:
        made.append(Controller(sqlite_url, replicas, attempts))
        return made[-1]
    yield make
    for c in made:
        c.close()


def run_until_progress(c: Controller, request) -> tuple[str, controller_pb2.RunProgress]:
    run = c.stub.StartReplay(request)
    watch = c.stub.WatchRun(controller_pb2.WatchRunRequest(run_id=run.run_id), timeout=60)
    progress = next(p for p in watch if p.finished > 0)
    watch.cancel()
    return run.run_id, progress


def watch_to_end(c: Controller, run_id: str) -> list[controller_pb2.RunProgress]:
    return list(c.stub.WatchRun(controller_pb2.WatchRunRequest(run_id=run_id), timeout=120))


def test_a_killed_replica_fails_over_and_stores_each_record_once(held, controller_of, replay_req) -> None:
    c = controller_of(replicas=2)
    request = replay_req(limit=50, fidelity="layer")
    run_id, progress = run_until_progress(c, request)  # held there until the replica is dead
    c.kill_replica_of(progress)
    held.set()
    final = watch_to_end(c, run_id)[-1]
    run = c.stub.GetRun(controller_pb2.GetRunRequest(run_id=run_id))
    assert (final.status, final.attempt, run.status) == ("complete", 2, "complete")
    assert final.replica != progress.replica
    spec = convert.run_spec(request.spec)
    trace = load_trace("azure-conv-2023", TraceOptions(limit=50))
    embedded_id, _ = stored_replay(c.store, spec, trace)
    assert c.store.request_records(run_id) == c.store.request_records(embedded_id)
    assert c.store.series(run_id) == c.store.series(embedded_id)


def test_with_no_replica_left_the_run_is_failed_and_the_controller_stays_up(held, controller_of,
                                                                           replay_req) -> None:
    c = controller_of(replicas=1, attempts=2)
    held.set()  # this run goes through
    before = c.stub.GetRun(controller_pb2.GetRunRequest(run_id=c.stub.StartReplay(replay_req(limit=10)).run_id))
    watch_to_end(c, before.run_id)
    before = c.stub.GetRun(controller_pb2.GetRunRequest(run_id=before.run_id))
    held.clear()  # this one waits after its first progress until its replica is dead
    run_id, progress = run_until_progress(c, replay_req(limit=100, fidelity="layer"))
    c.kill_replica_of(progress)
    held.set()
    final = watch_to_end(c, run_id)[-1]
    run = c.stub.GetRun(controller_pb2.GetRunRequest(run_id=run_id))
    assert final.status == run.status == "failed" and "cluster replica lost" in run.error
    assert len(c.store.request_records(run_id)) == run.requests_recorded
    assert c.stub.GetRun(controller_pb2.GetRunRequest(run_id=before.run_id)) == before
    health = health_pb2_grpc.HealthStub(c.channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
