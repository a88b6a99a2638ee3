"""A controller rides out a PostgreSQL restart (real processes: a PostgreSQL server this test starts
and stops by its pid, never a shared one; a cluster replica and a controller). Records are held and
retried while the database is away: every record the run reports is stored, once. An outage longer
than TWIN_DB_OUTAGE_S ends the run interrupted with what it stored and a summary of exactly that."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.common.channel import open_channel
from services.store import Store
from services.store.db import create_store_engine
from services.up import LocalStack
from twin_api.v1 import controller_pb2, controller_pb2_grpc

PG_BIN = Path("/usr/lib/postgresql")
LIMIT = 6000  # a run of several seconds at layer fidelity, long enough to restart the database under it


def _pg_bin() -> Path | None:
    found = sorted(PG_BIN.glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Postgres:
    """A PostgreSQL server in a temporary folder, run as `user` (it refuses to run as root)."""

    bin: Path
    data: Path
    port: int
    user: str
    pid: int = 0

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.data / "log"),
                  "-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1", "start")
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        """Fast shutdown (sessions cut, as a restart does), by the postmaster's pid; waits for it to end."""
        if not self.pid:
            return
        os.kill(self.pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{self.pid}").exists():
            time.sleep(0.05)
        self.pid = 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://twin@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    pg_bin = _pg_bin()
    if pg_bin is None:
        pytest.skip(f"no PostgreSQL server binaries under {PG_BIN} (Debian's postgresql package)")
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _has_user(user)):
        pytest.skip("running as root, and no 'postgres' user or runuser to start PostgreSQL as")
    # Not under pytest's tmp folder: as root that is private to root, and the server runs as `user`.
    home = Path(tempfile.mkdtemp(prefix="twin-pg-"))
    os.chown(home, pwd.getpwnam(user).pw_uid, -1)
    server = Postgres(pg_bin, home / "data", _free_port(), user)
    try:
        server._run(str(pg_bin / "initdb"), "-D", str(server.data), "-U", "twin", "--auth=trust", "-E", "UTF8")
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def start(postgres: Postgres, replay_req, outage_s: float) -> tuple[LocalStack, controller_pb2_grpc.ControllerStub,
                                                                      str, object]:
    stack = LocalStack(port=0, db=postgres.url, env={**os.environ, "TWIN_DB_OUTAGE_S": str(outage_s)})
    cluster = "ipv4:" + stack.spawn("cluster0", ["serve", "cluster"], 0)
    stack.spawn("controller", ["serve", "controller", "--cluster", cluster], 0)
    channel = open_channel(stack.addrs["controller"], stack.security)
    ctl = controller_pb2_grpc.ControllerStub(channel)
    run_id = ctl.StartReplay(replay_req(limit=LIMIT, fidelity="layer"), timeout=30).run_id
    return stack, ctl, run_id, channel


def wait_stored(url: str, run_id: str, more_than: int = 0) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with Store(create_store_engine(url)) as store:
            recorded = store.get_run(run_id).requests_recorded
        if recorded > more_than:
            return recorded
        time.sleep(0.05)
    raise AssertionError("no batch stored")


def final(ctl, run_id: str) -> tuple[controller_pb2.Run, int]:
    for progress in ctl.WatchRun(controller_pb2.WatchRunRequest(run_id=run_id), timeout=180):
        reported = progress.finished
    run = ctl.GetRun(controller_pb2.GetRunRequest(run_id=run_id), timeout=30)
    assert run.status != "running"
    return run, reported


def test_a_run_rides_out_a_one_second_postgres_restart(postgres, replay_req) -> None:
    stack, ctl, run_id, channel = start(postgres, replay_req, outage_s=60)
    try:
        before = wait_stored(postgres.url, run_id)
        postgres.stop()
        time.sleep(1.0)
        postgres.start()
        run, reported = final(ctl, run_id)
    finally:
        channel.close()
        stack.stop()
    assert run.status == "complete", run.error
    with Store(create_store_engine(postgres.url)) as store:
        kept = store.request_records(run_id, limit=100_000)
        row = store.get_run(run_id)
    assert before < LIMIT
    assert len(kept) == len({r.request_id for r in kept}) == row.requests_recorded == reported == LIMIT
    assert row.summary["requests"]["total"] == LIMIT


def test_an_outage_longer_than_the_bound_ends_the_run_interrupted_with_what_it_stored(postgres, replay_req) -> None:
    stack, ctl, run_id, channel = start(postgres, replay_req, outage_s=2)
    try:
        wait_stored(postgres.url, run_id)
        postgres.stop()
        time.sleep(5.0)  # past the 2 s bound: the controller gives the run up, then marks it once the database is back
        postgres.start()
        run, _ = final(ctl, run_id)
    finally:
        channel.close()
        stack.stop()
    assert run.status == "interrupted"
    assert "out of reach for more than 2 s (TWIN_DB_OUTAGE_S)" in run.error
    with Store(create_store_engine(postgres.url)) as store:
        kept = store.request_records(run_id, limit=100_000)
        row = store.get_run(run_id)
    assert 0 < len(kept) == len({r.request_id for r in kept}) == row.requests_recorded < LIMIT
    assert f"the {len(kept):,} request records stored before are kept" in row.error
    assert row.summary["source"] == "stored records" and row.summary["requests"]["total"] == len(kept)
    assert row.summary["requests"]["done"] == sum(r.state == "done" for r in kept)
