"""The PostgreSQL image's entrypoint (compose/postgres-entrypoint.sh) runs as the postgres user, with no
root, no capability and no change of user: it initialises a data folder with the generated password,
serves it (password auth over TCP), starts again on the folder it made, and refuses to run as root.
Real processes, on this machine's PostgreSQL binaries (Debian's package), in a temporary folder."""

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
from pathlib import Path

import pytest

psycopg = pytest.importorskip("psycopg")

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "compose" / "postgres-entrypoint.sh"
SOCKETS = Path("/var/run/postgresql")  # the entrypoint uses PostgreSQL's default socket folder, as in the image
PASSWORD = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3"  # as deploy/make-secrets.sh writes: 48 hex digits


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _user() -> str:
    """Who runs the entrypoint: this user, or `postgres` when the test runs as root."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    if shutil.which("runuser") is None:
        pytest.skip("running as root without runuser to start PostgreSQL as another user")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root, and no 'postgres' user to start PostgreSQL as")
    return "postgres"


@pytest.fixture
def home() -> Iterator[tuple[Path, str]]:
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql (Debian's postgresql package)")
    user = _user()
    check = subprocess.run([*_as(user), "test", "-w", str(SOCKETS)])
    if check.returncode != 0:
        pytest.skip(f"{SOCKETS} is not writable by {user}")
    # Not under pytest's tmp folder: as root that is private to root, and the server runs as `user`.
    folder = Path(tempfile.mkdtemp(prefix="twin-pgep-"))
    os.chown(folder, pwd.getpwnam(user).pw_uid, -1)
    shutil.copy(ENTRYPOINT, folder / "entrypoint.sh")
    os.chmod(folder / "entrypoint.sh", 0o755)
    try:
        yield folder, user
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _as(user: str) -> list[str]:
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


def _start(folder: Path, user: str, port: int) -> subprocess.Popen:
    env = {"PATH": os.environ["PATH"], "PGDATA": str(folder / "data"), "PGPORT": str(port),
           "POSTGRES_USER": "twin", "POSTGRES_DB": "twin", "POSTGRES_PASSWORD": PASSWORD}
    return subprocess.Popen([*_as(user), "env", *[f"{k}={v}" for k, v in env.items()], "sh",
                             str(folder / "entrypoint.sh")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def _connect(port: int, password: str, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return psycopg.connect(f"postgresql://twin:{password}@127.0.0.1:{port}/twin", connect_timeout=3)
        except psycopg.OperationalError as exc:
            if "password authentication failed" in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _stop(server: subprocess.Popen, folder: Path) -> str:
    """SIGTERM to postgres (the entrypoint exec'd into it, PID 1 in a container), as `docker stop` sends."""
    try:
        os.kill(int((folder / "data" / "postmaster.pid").read_text().split()[0]), signal.SIGTERM)
    except (OSError, ValueError, IndexError):  # it never got as far as postgres
        os.killpg(server.pid, signal.SIGKILL)
    out, _ = server.communicate(timeout=60)
    return out


def test_it_initialises_and_serves_as_a_non_root_user_with_the_password(home) -> None:
    folder, user = home
    port = _free_port()
    server = _start(folder, user, port)
    try:
        with _connect(port, PASSWORD) as connection:
            assert connection.execute("select current_user, current_database()").fetchone() == ("twin", "twin")
            assert connection.execute("select usesuper from pg_user where usename = 'twin'").fetchone() == (True,)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            _connect(port, "twin")  # the old committed password is no password here
    finally:
        log = _stop(server, folder)
    assert server.returncode == 0, log
    assert (folder / "data" / "PG_VERSION").stat().st_uid == pwd.getpwnam(user).pw_uid
    assert oct((folder / "data").stat().st_mode & 0o777) == oct(0o700)

    again = _start(folder, user, port)  # a restart keeps the folder, and its password
    try:
        with _connect(port, PASSWORD) as connection:
            assert connection.execute("select 1").fetchone() == (1,)
    finally:
        log = _stop(again, folder)
    assert again.returncode == 0 and "creating" not in log, log  # no second initdb


def test_it_refuses_to_run_as_root(tmp_path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can show the refusal")
    done = subprocess.run(["sh", str(ENTRYPOINT)], env={"PATH": os.environ["PATH"], "PGDATA": str(tmp_path / "d"),
                                                       "POSTGRES_PASSWORD": PASSWORD},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and not (tmp_path / "d").exists()
    (line,) = done.stderr.strip().splitlines()
    assert "postgres user" in line and "999" in line
