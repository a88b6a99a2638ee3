"""`twin replay` keeps its store in a child process (services.store.writer). Real CLI processes on
real databases: the stored run is the one the in-process store gives, the CLI process never loads
SQLAlchemy, errors stay one line, and signals (to the whole process group, as Ctrl-C sends them) or
the CLI's death leave the run interrupted with its records, a summary of them and no writer process behind."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.common.messages import one_line
from services.runner import stored_replay
from services.store import open_store
from services.store.writer import StoreWriter
from twin.replay import RunSpec
from twin.traces import TraceOptions, load_trace

SMALL = ["replay", "azure-conv-2023", "--limit", "300", "--model", "opt-1.3b", "--tp", "1", "--no-progress", "--json"]
# Long enough to be running through everything a test does; the tests stop it, never wait for it.
LONG = ["replay", "azure-conv-2023", "--limit", "1000", "--fidelity", "layer", "--model", "opt-1.3b", "--tp", "1",
        "--no-progress", "--json"]
# The CLI's entry point, writing at exit (to the file $PROBE) whether this, the main process, ever
# loaded SQLAlchemy, and the pids of the store writers it started.
PROBE = """
import atexit, json, os, sys
import services.store.writer as writer
pids, start = [], writer.StoreWriter.__init__
def init(self, *args, **kwargs):
    start(self, *args, **kwargs)
    pids.append(self.process.pid)
writer.StoreWriter.__init__ = init
atexit.register(lambda: open(os.environ["PROBE"], "w").write(json.dumps(
    {"sqlalchemy": "sqlalchemy" in sys.modules, "writers": pids})))
from services.cli import main
sys.argv[0] = "twin"
main()
"""


def twin(db: str, *args: str, probe: Path | None = None, **popen) -> subprocess.Popen:
    entry = ["-P", "-c", PROBE] if probe else ["-P", "-m", "services.cli"]  # -P: the installed build, not the sources
    env = {**os.environ, "PROBE": str(probe)} if probe else None
    return subprocess.Popen([sys.executable, *entry, "--db", db, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **popen)


def children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(condition, what: str, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def reaped(cli: subprocess.Popen, group: bool = False) -> Iterator[subprocess.Popen]:
    """The CLI for the block's length; killed (with its process group) if the block leaves it running."""
    try:
        yield cli
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL) if group else cli.kill()
            cli.communicate()


def stored(db: str, run_id: str) -> tuple:
    """The run's row and every record stored for it."""
    with open_store(db) as store:
        return store.get_run(run_id), store.request_records(run_id, limit=100_000)


def first_batch(db: str) -> tuple[str, int]:
    """(run id, requests recorded) once the only run has stored records."""
    def recorded():
        with open_store(db) as store:
            runs = store.list_runs()
            return runs and runs[0].requests_recorded and (runs[0].id, runs[0].requests_recorded)
    return wait_for(recorded, "the first stored batch")


def test_the_cli_stores_the_run_an_in_process_store_stores(db_url, tmp_path) -> None:
    cli = twin(db_url, *SMALL, probe=tmp_path / "probe.json")
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    probe = json.loads((tmp_path / "probe.json").read_text())
    assert probe["sqlalchemy"] is False and len(probe["writers"]) == 1
    run_id = json.loads(out)["run_id"]
    with open_store(db_url) as store:
        row = store.get_run(run_id)
        records, series = store.request_records(run_id, limit=10_000), store.series(run_id)
        components = store.components(run_id)
        spec = RunSpec.from_dict(row.spec)
        trace = load_trace("azure-conv-2023", TraceOptions(limit=300))
        ref_id, _ = stored_replay(store, spec, trace)
        ref = store.get_run(ref_id)
        assert records == store.request_records(ref_id, limit=10_000)
        assert series == store.series(ref_id)
        assert components == store.components(ref_id)
    assert (row.status, row.kind, row.trace, row.error) == (ref.status, ref.kind, ref.trace, ref.error) == \
        ("complete", "replay", "azure-conv-2023", "")
    assert row.summary == ref.summary and row.policy == ref.policy
    assert len(records) == row.requests_recorded == row.summary["requests"]["total"] == 300
    assert row.summary["requests"]["done"] == sum(r.state == "done" for r in records)
    assert len(series) == row.series_recorded > 0


def test_importing_the_cli_loads_no_sql_grpc_or_generated_code() -> None:
    code = ("import sys, services.cli; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'sqlalchemy', 'alembic', 'grpc', 'twin_api'}))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def bad_databases(tmp_path: Path) -> dict[str, str]:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database, " * 100)
    return {"missing folder": f"sqlite:///{tmp_path / 'no' / 'such' / 'folder.db'}",
            "unknown scheme": "nosuchdb://somewhere/runs", "not a database": f"sqlite:///{garbage}"}


@pytest.mark.parametrize("case", ["missing folder", "unknown scheme", "not a database"])
def test_a_bad_database_is_the_in_process_stores_one_line_and_leaves_no_writer(tmp_path, case) -> None:
    db = bad_databases(tmp_path)[case]
    with pytest.raises(Exception) as expected:  # noqa: PT011 - a StoreError or the driver's own DBAPIError
        open_store(db)
    cli = twin(db, *SMALL, probe=tmp_path / "probe.json")
    out, err = cli.communicate(timeout=60)
    assert (cli.returncode, out, err) == (1, "", f"Error: {one_line(expected.value)}\n")
    (writer,) = json.loads((tmp_path / "probe.json").read_text())["writers"]
    assert not running(writer)  # joined by the CLI, not left behind


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_process_group_marks_the_run_with_every_record(tmp_path, signum) -> None:
    db = f"sqlite:///{tmp_path / 'twin.db'}"
    cli = twin(db, *LONG, start_new_session=True)  # its own group: the signal reaches the writer too
    with reaped(cli, group=True):
        run_id, _ = first_batch(db)
        (writer,) = children(cli.pid)
        os.killpg(cli.pid, signum)
        out, err = cli.communicate(timeout=60)
    assert cli.returncode == 128 + signum, err
    assert "Traceback" not in err and json.loads(out)["status"] == "interrupted"
    assert not running(writer)
    row, kept = stored(db, run_id)
    assert row.status == "interrupted"
    assert row.error == {signal.SIGINT: "interrupted by the user (Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)"}[signum]
    assert 0 < len(kept) == row.requests_recorded == row.summary["requests"]["total"] < 1000
    assert row.summary["requests"]["done"] == sum(r.state == "done" for r in kept)


def test_a_second_ctrl_c_stops_at_once_and_the_run_counts_what_was_stored(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'twin.db'}"
    cli = twin(db, *LONG, start_new_session=True)
    with reaped(cli, group=True):
        run_id, _ = first_batch(db)
        (writer,) = children(cli.pid)
        os.killpg(cli.pid, signal.SIGINT)
        os.killpg(cli.pid, signal.SIGINT)
        out, err = cli.communicate(timeout=60)
    assert cli.returncode == 130 and "Traceback" not in err, err
    assert not running(writer)
    row, kept = stored(db, run_id)
    assert row.status == "interrupted" and 0 < len(kept) == row.requests_recorded
    if row.summary is not None:  # the first signal's checkpoint came before the second signal
        assert row.summary["requests"]["total"] == len(kept)


def test_when_the_cli_is_killed_its_writer_marks_the_run_and_exits(db_url) -> None:
    cli = twin(db_url, *LONG)
    with reaped(cli):
        run_id, _ = first_batch(db_url)
        (writer,) = children(cli.pid)
        cli.kill()  # SIGKILL: the CLI marks nothing
        cli.communicate(timeout=60)
        wait_for(lambda: not running(writer), "the writer to exit", timeout_s=30)
    row, kept = stored(db_url, run_id)
    assert row.status == "interrupted"
    assert row.error == (f"its twin replay process (pid {cli.pid}) ended before finishing the run; "
                         "the records stored until then are kept")
    assert 0 < len(kept) == row.requests_recorded == row.summary["requests"]["total"] < 1000
    assert row.summary["source"] == "stored records"
    assert row.summary["requests"]["done"] == sum(r.state == "done" for r in kept)


def test_a_batch_the_store_refuses_stops_the_cli_with_one_line_and_keeps_what_was_stored(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'twin.db'}"
    cli = twin(db, *LONG)
    with reaped(cli):
        run_id, _ = first_batch(db)
        with open_store(db) as store:  # as `twin runs cancel` would: later batches are refused
            store.finish(run_id, "cancelled", None, error="cancelled by the test")
            cancelled_with = store.get_run(run_id).requests_recorded
        out, err = cli.communicate(timeout=60)
    assert (cli.returncode, out) == (1, "")
    assert err == f"Error: run {run_id} is cancelled, not running\n"
    row, kept = stored(db, run_id)
    assert (row.status, row.error) == ("cancelled", "cancelled by the test")
    assert len(kept) == row.requests_recorded == cancelled_with


@pytest.mark.parametrize("bad", [["--model", "no-such-model"], ["--limit", "0"]])
def test_a_refused_replay_leaves_no_database_file_and_no_writer(tmp_path, bad) -> None:
    db = tmp_path / "twin.db"
    cli = twin(f"sqlite:///{db}", *SMALL, *bad, probe=tmp_path / "probe.json")
    out, err = cli.communicate(timeout=60)
    assert (cli.returncode, out) == (1, "") and err.startswith("Error: ") and err.count("\n") == 1, err
    (writer,) = json.loads((tmp_path / "probe.json").read_text())["writers"]
    assert not running(writer) and not db.exists()


def test_when_the_writer_is_killed_the_cli_stops_with_one_line_and_marks_the_run(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'twin.db'}"
    cli = twin(db, *LONG)
    with reaped(cli):
        run_id, _ = first_batch(db)
        (writer,) = children(cli.pid)
        os.kill(writer, signal.SIGKILL)
        out, err = cli.communicate(timeout=60)
    assert (cli.returncode, out) == (1, "")
    assert err == f"Error: the store writer process (pid {writer}) ended unexpectedly (exit code -9)\n"
    row, kept = stored(db, run_id)
    assert row.status == "interrupted" and row.summary["requests"]["total"] == len(kept)
    assert row.error == (f"its store writer process (pid {writer}) ended unexpectedly (exit code -9); "
                         "the records it stored are kept")
    assert 0 < len(kept) == row.requests_recorded < 1000


def test_a_writer_that_cannot_mark_its_run_exits_1_and_the_cli_marks_it(tmp_path) -> None:
    """The database is locked while the writer marks the run its CLI left unfinished: the writer fails
    after SQLite's 5 s busy wait and says so by exiting 1, so the CLI marks the run itself once the lock
    is gone (at 6.5 s), rather than leaving it running until a later start-up's lease takeover."""
    path = tmp_path / "twin.db"
    db = f"sqlite:///{path}"
    writer = StoreWriter(db, owner="test")
    writer.open()
    run_id = writer.create_run(kind="replay", trace="azure-conv-2023", spec={}, policy={})
    lock = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(6.5, lock.rollback)
    release.start()
    try:
        writer.close()  # the child's mark fails at 5 s; the CLI's own mark waits for the lock
    finally:
        release.join()
        lock.close()
    assert writer.process.exitcode == 1
    row, _ = stored(db, run_id)
    assert row.status == "interrupted" and "store writer process" in row.error
