"""The compose stack on a real Docker engine, end to end (run by .ci/compose.sh).

Brings compose/compose.yaml up with two cluster replicas and the locally built images and
secrets that deploy/make-secrets.sh generates for this test (auth on, a random database
password), replays an Azure slice through the published controller port with the token,
reads it back from the metrics service and from PostgreSQL, checks every container's health
and hardening through the Docker SDK, kills the cluster container running a replay, and
brings the stack down.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from services.common.channel import open_channel
from services.common.security import Security
from twin_api.v1 import common_pb2, controller_pb2, controller_pb2_grpc, metrics_pb2, metrics_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("TWIN_IMAGE", "lpu-twin:latest")
DB_IMAGE = os.environ.get("TWIN_DB_IMAGE", "lpu-twin-postgres:latest")
SPEC = common_pb2.TwinSpec(server="lpu-8x-4nm", model="opt-1.3b", tp=1)

if os.environ.get("TWIN_COMPOSE_TEST") != "1":
    pytest.skip("the compose test runs from .ci/compose.sh (TWIN_COMPOSE_TEST=1)", allow_module_level=True)
docker = pytest.importorskip("docker")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    pytest.skip("neither docker-compose nor the docker compose plugin is installed")


@pytest.fixture(scope="module")
def engine():
    try:
        client = docker.from_env()
        client.ping()
        client.images.get(IMAGE)
        client.images.get(DB_IMAGE)
    except Exception as exc:  # no engine, or the images were not built
        pytest.skip(f"no Docker engine with {IMAGE} and {DB_IMAGE}: {exc}")
    return client


@pytest.fixture(scope="module")
def stack(engine, tmp_path_factory) -> Iterator[dict]:
    project = f"twintest{os.getpid()}"
    ports = {"controller": _free_port(), "metrics": _free_port()}
    env = {**os.environ, **_secrets(tmp_path_factory.mktemp("secrets") / "secrets.env"),
           "TWIN_IMAGE": IMAGE, "TWIN_DB_IMAGE": DB_IMAGE,
           "TWIN_CONTROLLER_PORT": str(ports["controller"]), "TWIN_METRICS_PORT": str(ports["metrics"])}
    compose = [*_compose_command(), "-f", str(ROOT / "compose" / "compose.yaml"), "-p", project]
    subprocess.run([*compose, "up", "-d", "--no-build", "--scale", "cluster=2"], env=env, check=True)
    try:
        containers = _wait_healthy(engine, project)
        yield {"project": project, "containers": containers, "ports": ports, "engine": engine,
               "compose": compose, "env": env, "token": env["TWIN_AUTH_TOKEN"]}
    finally:
        subprocess.run([*compose, "logs", "--tail", "20", "controller"], env=env)
        subprocess.run([*compose, "down", "-v", "--timeout", "20"], env=env, check=True)


def _secrets(path: Path) -> dict[str, str]:
    """Fresh secrets from deploy/make-secrets.sh, given to compose through the environment (which
    wins over compose/.env), so the test neither needs nor touches the reader's own file."""
    subprocess.run([str(ROOT / "deploy" / "make-secrets.sh"), str(path), "db"], check=True, capture_output=True)
    pairs = [line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {"TWIN_AUTH": "on", **dict(pairs)}


def _wait_healthy(engine, project: str, timeout_s: float = 180.0) -> list:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        containers = engine.containers.list(filters={"label": f"com.docker.compose.project={project}"})
        states = [c.attrs["State"].get("Health", {}).get("Status") for c in containers]
        if len(containers) == 5 and all(s == "healthy" for s in states):
            return containers
        time.sleep(2)
    raise AssertionError(f"the stack did not become healthy: {[(c.name, c.status) for c in containers]}")


def _controller(stack, token: str | None = "stack's"):
    security = Security(token=stack["token"] if token == "stack's" else token)
    return open_channel(f"127.0.0.1:{stack['ports']['controller']}", security)


def _replay(stub, limit: int, fidelity: str = "step") -> str:
    request = controller_pb2.ReplayRequest(trace=controller_pb2.TraceSource(name="azure-conv-2023"),
                                           options=controller_pb2.TraceOptions(limit=limit), spec=SPEC)
    request.spec.serving.fidelity = fidelity
    return stub.StartReplay(request, timeout=30).run_id


def _watch(stub, run_id: str) -> list:
    return list(stub.WatchRun(controller_pb2.WatchRunRequest(run_id=run_id), timeout=300))


def _psql(stack, sql: str) -> str:
    db = next(c for c in stack["containers"] if c.labels["com.docker.compose.service"] == "db")
    code, out = db.exec_run(["psql", "-U", "twin", "-d", "twin", "-tAc", sql], user="postgres")
    assert code == 0, out
    return out.decode().strip()


def test_every_container_reports_healthy(stack) -> None:
    services = sorted(c.labels["com.docker.compose.service"] for c in stack["containers"])
    assert services == ["cluster", "cluster", "controller", "db", "metrics"]
    for container in stack["containers"]:
        container.reload()  # the engine's state now, not the attributes cached when the fixture waited
        assert container.status == "running", container.name
        assert container.attrs["State"]["Health"]["Status"] == "healthy", container.name


def test_every_container_is_hardened(stack) -> None:
    """Non-root, read-only root file system, no capability, no privilege escalation, memory and CPU limits."""
    for container in stack["containers"]:
        host = container.attrs["HostConfig"]
        user = container.attrs["Config"]["User"]
        assert user and user.split(":")[0] not in ("", "0", "root"), container.name
        assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"], container.name
        assert "no-new-privileges:true" in host["SecurityOpt"], container.name
        assert host["Memory"] > 0 and host["NanoCpus"] > 0 and host["MemoryReservation"] > 0, container.name


@pytest.mark.parametrize("token", [None, "guess"])
def test_a_call_without_the_token_is_unauthenticated(stack, token) -> None:
    with _controller(stack, token) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            controller_pb2_grpc.ControllerStub(channel).GetRun(controller_pb2.GetRunRequest(run_id="x"), timeout=10)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_a_replay_is_stored_in_postgres_and_read_back_by_metrics(stack) -> None:
    with _controller(stack) as channel:
        stub = controller_pb2_grpc.ControllerStub(channel)
        run_id = _replay(stub, limit=50)
        assert _watch(stub, run_id)[-1].status == "complete"
        run = stub.GetRun(controller_pb2.GetRunRequest(run_id=run_id), timeout=10)
    with open_channel(f"127.0.0.1:{stack['ports']['metrics']}", Security(token=stack["token"])) as channel:
        metrics = metrics_pb2_grpc.MetricsStub(channel)
        summary = metrics.GetSummary(metrics_pb2.GetSummaryRequest(run_id=run_id), timeout=10)
    assert json.loads(summary.summary_json) == json.loads(run.summary_json)
    requests = json.loads(run.summary_json)["requests"]
    # opt-1.3b's 2K context rejects (and counts) the trace's longer prompts; every request has a record.
    assert requests["done"] + requests["too_long_rejected"] == 50 and requests["done"] >= 40
    assert _psql(stack, f"select count(*) from request_records where run_id = '{run_id}'") == "50"
    assert _psql(stack, f"select status from runs where id = '{run_id}'") == "complete"
    stack["first"] = run


def test_killing_the_cluster_container_of_a_replay(stack) -> None:
    with _controller(stack) as channel:
        stub = controller_pb2_grpc.ControllerStub(channel)
        run_id = _replay(stub, limit=200, fidelity="layer")  # seconds of work: still running when killed
        watch = stub.WatchRun(controller_pb2.WatchRunRequest(run_id=run_id), timeout=300)
        progress = next(p for p in watch if p.finished > 0)
        watch.cancel()
        host = progress.replica.split("/")[0]
        victim = next(c for c in stack["containers"] if c.attrs["Config"]["Hostname"] == host)
        victim.kill()
        stream = _watch(stub, run_id)
        assert stream, "the watch of a run in flight must stream its progress"
        final = stream[-1]
        # One replica is left: the run must fail over to it and complete, every record stored once.
        assert final.status == "complete", final.error
        assert final.attempt == 2 and final.replica.split("/")[0] != host
        stored = int(_psql(stack, f"select count(*) from request_records where run_id = '{run_id}'"))
        run = stub.GetRun(controller_pb2.GetRunRequest(run_id=run_id), timeout=10)
        assert stored == run.requests_recorded == 200
        if "first" in stack:  # the earlier run is unharmed
            assert stub.GetRun(controller_pb2.GetRunRequest(run_id=stack["first"].run_id), timeout=10) == stack["first"]
    controller = next(c for c in stack["containers"] if c.labels["com.docker.compose.service"] == "controller")
    controller.reload()
    assert controller.status == "running" and controller.attrs["State"]["Health"]["Status"] == "healthy"


def test_scaling_up_a_running_stack_reaches_the_new_replica(stack) -> None:
    """`up --scale cluster=3` on the running stack: no restart, yet replays reach the new replica once
    the servers' maximum connection age (TWIN_MAX_CONNECTION_AGE_S, 20 s) makes the controller
    re-resolve the cluster's DNS name."""
    engine, project = stack["engine"], stack["project"]
    before = {c.id for c in _cluster_containers(engine, project)}
    subprocess.run([*stack["compose"], "up", "-d", "--no-build", "--no-recreate", "--scale", "cluster=3"],
                   env=stack["env"], check=True)
    new = [c for c in _cluster_containers(engine, project) if c.id not in before]
    assert new, "compose started no new cluster replica"
    new_hosts = {c.attrs["Config"]["Hostname"] for c in new}
    seen: set[str] = set()
    deadline = time.monotonic() + 120  # a minute of connection age and re-resolution, plus start-up
    with _controller(stack) as channel:
        stub = controller_pb2_grpc.ControllerStub(channel)
        while time.monotonic() < deadline and not seen & new_hosts:
            progress = _watch(stub, _replay(stub, limit=60, fidelity="layer"))  # long enough to watch live
            assert progress[-1].status == "complete"
            seen |= {p.replica.split("/")[0] for p in progress if p.replica}
            time.sleep(2)
    assert seen & new_hosts, f"replays ran only on {sorted(seen)}, never on the new {sorted(new_hosts)}"


def _cluster_containers(engine, project: str) -> list:
    return engine.containers.list(filters={"label": [f"com.docker.compose.project={project}",
                                                     "com.docker.compose.service=cluster"]})
