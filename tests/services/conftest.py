"""Service fixtures: real servers on port 0, real databases (SQLite file; PostgreSQL when
TWIN_TEST_PG_URL is set), clients through the same channels the services use."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from services.cluster.servicer import create_server as cluster_server
from services.common.channel import open_channel
from services.common.security import Security
from services.controller.runs import Limits, RunManager
from services.controller.servicer import ControllerServicer
from services.controller.servicer import create_server as controller_server
from services.controller.uploads import UploadStore
from services.limits import RunLimits
from services.metrics.servicer import create_server as metrics_server
from services.store import Store, open_store
from services.store.db import create_store_engine
from twin_api.v1 import cluster_pb2_grpc, common_pb2, controller_pb2, controller_pb2_grpc, metrics_pb2_grpc

PG_URL_ENV = "TWIN_TEST_PG_URL"
EXAMPLE_PG_URL = "postgresql+psycopg://twin:twin@127.0.0.1:5432/twin_test"
SMALL_SPEC = common_pb2.TwinSpec(server="lpu-8x-4nm", model="opt-1.3b", tp=1)


def replay_request(limit: int = 30, spec: common_pb2.TwinSpec = SMALL_SPEC, **serving) -> controller_pb2.ReplayRequest:
    """A small slice of the Azure conversation trace on a small twin."""
    spec = common_pb2.TwinSpec(server=spec.server, model=spec.model, tp=spec.tp)
    for name, value in serving.items():
        setattr(spec.serving, name, value)
    return controller_pb2.ReplayRequest(trace=controller_pb2.TraceSource(name="azure-conv-2023"),
                                        options=controller_pb2.TraceOptions(limit=limit), spec=spec)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh schema in $TWIN_TEST_PG_URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'twin.db'}"
        return
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"{PG_URL_ENV} is not set, e.g. to {EXAMPLE_PG_URL}")
    yield from _pg_schema(base)


def _pg_schema(base: str) -> Iterator[str]:
    # A schema per test, reached through search_path, so tests never see each other's runs.
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_store_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'twin.db'}"


@dataclass
class Stack:
    """Cluster replicas, a controller and a metrics service in this process, each on port 0."""

    store: Store
    runs: RunManager
    cluster_addrs: list[str]
    cluster_servers: list[grpc.Server]
    controller: controller_pb2_grpc.ControllerStub
    metrics: metrics_pb2_grpc.MetricsStub
    controller_addr: str
    channels: list[grpc.Channel]
    metrics_addr: str = ""

    def wait(self, run_id: str) -> controller_pb2.Run:
        for _ in self.controller.WatchRun(controller_pb2.WatchRunRequest(run_id=run_id), timeout=120):
            pass
        return self.controller.GetRun(controller_pb2.GetRunRequest(run_id=run_id))


def start_stack(url: str, clusters: int = 2, limits: Limits = Limits(), security: Security = Security(),
                upload_max_bytes: int = 1 << 20, tmp_path=None, run_limits: RunLimits | None = None) -> Stack:
    servers, addrs = [], []
    for _ in range(clusters):
        server, port = cluster_server("127.0.0.1:0", security=security)
        server.start()
        servers.append(server)
        addrs.append(f"127.0.0.1:{port}")
    store = open_store(url)
    cluster_channel = open_channel("ipv4:" + ",".join(addrs), security)
    runs = RunManager(store, cluster_pb2_grpc.ClusterTwinStub(cluster_channel), limits, run_limits)
    uploads = UploadStore(tmp_path / "uploads" if tmp_path else None, upload_max_bytes)
    ctl, ctl_port = controller_server("127.0.0.1:0", ControllerServicer(runs, uploads, store), security=security)
    met, met_port = metrics_server("127.0.0.1:0", store, security=security)
    ctl.start()
    met.start()
    ctl_channel = open_channel(f"127.0.0.1:{ctl_port}", security)
    met_channel = open_channel(f"127.0.0.1:{met_port}", security)
    return Stack(store, runs, addrs, [*servers, ctl, met], controller_pb2_grpc.ControllerStub(ctl_channel),
                 metrics_pb2_grpc.MetricsStub(met_channel), f"127.0.0.1:{ctl_port}",
                 [cluster_channel, ctl_channel, met_channel], f"127.0.0.1:{met_port}")


def stop_stack(stack: Stack) -> None:
    stack.runs.shutdown()
    for server in stack.cluster_servers:
        server.stop(0)
    for channel in stack.channels:
        channel.close()
    stack.store.close()


@pytest.fixture
def make_stack(tmp_path) -> Iterator:
    """A factory of stacks (`make_stack(url, clusters=2, limits=..., security=...)`), stopped after the test."""
    made: list[Stack] = []

    def make(url: str, **kwargs) -> Stack:
        made.append(start_stack(url, tmp_path=tmp_path, **kwargs))
        return made[-1]
    yield make
    for s in made:
        stop_stack(s)


@pytest.fixture
def stack(make_stack, sqlite_url: str) -> Stack:
    return make_stack(sqlite_url)


@pytest.fixture
def replay_req():
    """`replay_req(limit=30, **serving)`: a ReplayRequest of an Azure slice on a small twin."""
    return replay_request
