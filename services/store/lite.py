"""The store writer's SQLite store without SQLAlchemy: what `twin replay` needs, on the stdlib's sqlite3.

`twin replay` keeps its store in a child process (writer.py) that must be ready by the time the trace
is read; importing SQLAlchemy takes it about 0.2 s of CPU, more than the rest of its start. For a
SQLite file that is new or already at the newest schema, with no run whose lease expired, this store
does what the writer asks (create a run, append batches, finish it) with plain SQL: the same rows,
the same JSON and time formats, the same checks as `repo.Store`, and every batch an executemany of
tuples in one transaction. Anything else (another database, a migration, runs to take over, marking
a run interrupted with a summary of its stored records) goes to `repo.Store`, imported then.

A new database gets `sqlite_schema.sql`: the statements SQLAlchemy's `create_all` issues for
`models.Base`, stamped at the newest revision as `db._created_new_sqlite` does; a test holds the two
databases' schemas equal (regenerate the file from a database `open_store` created, its
`sqlite_master` in rowid order).
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.store import convert
from services.store.rows import RunKind, RunStatus, lease_seconds
from twin.errors import InvalidSpec, NotRunning, UnknownName
from twin.metrics import RequestRecord, SeriesSample

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
SCHEMA_FILE = Path(__file__).resolve().with_name("sqlite_schema.sql")
PREFIX = "sqlite:///"
# SQLAlchemy's SQLite DATETIME text: UTC, no offset, always microseconds.
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def head_revision() -> str:
    """The newest migration's revision: revisions are numbered like their files (0002_run_lease.py
    is revision "0002"; a test holds this equal to Alembic's own answer)."""
    return sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))[-1].split("_")[0]


def sqlite_file(url: str | None) -> str | None:
    """The file of a plain SQLite file URL (sqlite:///path, no options or escapes), else None."""
    url = url or os.environ.get("TWIN_DATABASE_URL") or "sqlite:///twin.db"
    path = url[len(PREFIX):] if url.startswith(PREFIX) else ""
    if not path or path == ":memory:" or any(c in path for c in "?%#"):
        return None
    return path


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def _json(value: dict | None) -> str | None:
    return None if value is None else json.dumps(value)


class LiteStore:
    """`repo.Store`'s create_run / append / finish on one SQLite connection (see the module docstring)."""

    def __init__(self, connection: sqlite3.Connection, path: str, owner: str, lease_s: float):
        self.connection, self.path, self.owner, self.lease_s = connection, path, owner, lease_s
        self.label = f"{Path(path).resolve()} (SQLite)"

    def _lease_end(self) -> str:
        return _stamp(datetime.now(UTC) + timedelta(seconds=self.lease_s))

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> LiteStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def create_run(self, *, kind: str, trace: str, spec: dict, policy: dict) -> str:
        run_id = uuid.uuid4().hex
        row = (run_id, convert.parse(RunKind, "kind", kind).value, trace, RunStatus.RUNNING.value,
               _stamp(datetime.now(UTC)), _json(convert.jsonable("spec", spec)),
               _json(convert.jsonable("policy", policy)), "", 0, 0, self.owner, self._lease_end())
        with self.connection:
            self.connection.execute(
                "INSERT INTO runs (id, kind, trace, status, created_at, spec, policy, error, requests_recorded, "
                "series_recorded, owner, lease_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        return run_id

    def append(self, run_id: str, requests: list[RequestRecord], series: list[SeriesSample]) -> None:
        """One batch in one transaction, with the run's counters and lease, as `repo.Store.append`."""
        with self.connection as c:
            counted = c.execute(
                "UPDATE runs SET requests_recorded = requests_recorded + ?, series_recorded = series_recorded + ?, "
                "lease_expires_at = ? WHERE id = ? AND status = ?",
                (len(requests), len(series), self._lease_end(), run_id, RunStatus.RUNNING.value))
            if counted.rowcount == 0:
                self._raise_not_running(run_id)
            if requests:
                c.executemany(_insert("request_records", convert.REQUEST_COLUMNS),
                              [convert.request_values(run_id, r) for r in requests])
            if series:
                c.executemany(_insert("series", convert.SERIES_COLUMNS),
                              [convert.series_values(run_id, s) for s in series])

    def finish(self, run_id: str, status: str, summary: dict | None,
               components: dict[str, dict[str, float]] | None = None, error: str = "") -> None:
        final = convert.parse(RunStatus, "status", status)
        if final is RunStatus.RUNNING:
            raise InvalidSpec("status", "finish needs a final status, not 'running'")
        if final is RunStatus.COMPLETE and summary is None:
            raise InvalidSpec("summary", "a complete run needs a summary")
        summary = None if summary is None else convert.jsonable("summary", summary)
        rows = [(r["run_id"], r["component"], r["metric"], r["value"])
                for r in convert.component_rows(run_id, components or {})]
        with self.connection as c:
            ended = c.execute("UPDATE runs SET status = ?, finished_at = ?, summary = ?, error = ? "
                              "WHERE id = ? AND status = ?",
                              (final.value, _stamp(datetime.now(UTC)), _json(summary), error, run_id,
                               RunStatus.RUNNING.value))
            if ended.rowcount == 0:
                self._raise_not_running(run_id)
            if rows:
                c.executemany(_insert("component_util", ("run_id", "component", "metric", "value")), rows)

    def mark_interrupted(self, run_id: str, error: str) -> bool:
        """Through `repo.Store`: the summary of the stored records is SQL of its own (stored.py)."""
        from services.store.repo import open_store
        with open_store(PREFIX + self.path, owner=self.owner) as store:
            return store.mark_interrupted(run_id, error)

    def _raise_not_running(self, run_id: str) -> None:
        row = self.connection.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UnknownName("run", run_id)
        raise NotRunning(f"run {run_id} is {row[0]}, not running")


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def open_lite(url: str | None, owner: str) -> LiteStore | None:
    """A LiteStore for a SQLite file that is new (given the newest schema) or at the newest revision
    with no run to take over; None when `repo.open_store` must open it (or report why it cannot)."""
    path = sqlite_file(url)
    if path is None:
        return None
    lease_s = lease_seconds()
    try:
        connection = sqlite3.connect(path)
    except sqlite3.Error:
        return None
    try:
        ready = _prepare(connection)
    except sqlite3.Error:
        ready = False
    if not ready:
        connection.close()
        return None
    return LiteStore(connection, path, owner, lease_s)


def _prepare(connection: sqlite3.Connection) -> bool:
    """The connection's settings (as db._sqlite_on_connect), then the schema: created if the file is
    empty; True if the store is ready for this class."""
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
        connection.execute(f"PRAGMA {pragma}")
    with connection:
        if not connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            connection.execute("BEGIN IMMEDIATE")  # a concurrent creator waits, then finds the tables
            if connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                return False
            for statement in SCHEMA_FILE.read_text().split(";\n"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (head_revision(),))
            return True
    versions = [v for (v,) in connection.execute("SELECT version_num FROM alembic_version")]
    if versions != [head_revision()]:
        return False
    expired = connection.execute(
        "SELECT count(*) FROM runs WHERE status = ? AND (lease_expires_at IS NULL OR lease_expires_at < ?)",
        (RunStatus.RUNNING.value, _stamp(datetime.now(UTC)))).fetchone()[0]
    return expired == 0  # runs to take over: repo.open_store does it, with their summaries
