"""The run store: runs, their request records, time series and component figures in SQL.

Every method opens its own session, so one `Store` may serve many threads. A run is
created RUNNING, receives batches through `append` (each batch commits atomically,
so whatever was appended survives a crash) and ends, through `finish` or the
interruption helpers, in exactly one final status.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import fields
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from services.store import convert
from services.store.db import create_store_engine, migrate, resolve_url
from services.store.models import ComponentModel, RequestModel, RunModel, SeriesModel
from services.store.rows import RunInfo, RunKind, RunRow, RunStatus, process_owner
from twin.errors import InvalidSpec, NotRunning, UnknownName, quote
from twin.metrics import RequestRecord, SeriesSample

_REQUEST_FIELDS = RequestRecord._fields
_INFO_COLUMNS = tuple(getattr(RunModel, f.name) for f in fields(RunInfo))
LEASE_ENV = "TWIN_RUN_LEASE_S"
DEFAULT_LEASE_S = 300.0  # a run whose batches stop for this long is taken to be dead


def lease_seconds() -> float:
    """$TWIN_RUN_LEASE_S, else DEFAULT_LEASE_S."""
    text = os.environ.get(LEASE_ENV)
    try:
        value = float(text) if text else DEFAULT_LEASE_S
    except ValueError:
        raise InvalidSpec(LEASE_ENV, f"must be a number of seconds, got {text[:40]!r}") from None
    if not value > 0:
        raise InvalidSpec(LEASE_ENV, f"must be > 0 seconds, got {value}")
    return value


def open_store(url: str | None = None, owner: str | None = None) -> Store:
    """Open the store at `url` (else $TWIN_DATABASE_URL, else sqlite:///twin.db) and migrate it.

    Runs it creates are owned by `owner` (default: this process, see `process_owner`) with a
    lease of $TWIN_RUN_LEASE_S seconds. Raises `StoreError` naming the URL (password hidden)
    when the database is unreachable.
    """
    url = resolve_url(url)
    lease_s = lease_seconds()
    engine = create_store_engine(url)
    try:
        migrate(engine, url)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, owner, lease_s)


class Store:
    """Runs and what they recorded, in the database behind `engine` (already migrated)."""

    def __init__(self, engine: Engine, owner: str | None = None, lease_s: float = DEFAULT_LEASE_S):
        self.engine = engine
        self.owner = owner or process_owner("process")
        self.lease_s = lease_s

    def _lease_end(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.lease_s)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def create_run(self, *, kind: str, trace: str, spec: dict, policy: dict) -> str:
        """Record a new RUNNING run and return its id (32 hex digits)."""
        run_id = uuid.uuid4().hex
        run = RunModel(
            id=run_id,
            kind=convert.parse(RunKind, "kind", kind).value,
            trace=trace,
            status=RunStatus.RUNNING.value,
            created_at=datetime.now(UTC),
            spec=convert.jsonable("spec", spec),
            policy=convert.jsonable("policy", policy),
            error="",
            requests_recorded=0,
            series_recorded=0,
            owner=self.owner,
            lease_expires_at=self._lease_end(),
        )
        with Session(self.engine) as session, session.begin():
            session.add(run)
        return run_id

    def append(
        self, run_id: str, requests: list[RequestRecord], series: list[SeriesSample]
    ) -> None:
        """Store one batch in one transaction: all of it, with the run's counters, or none.

        Plain statements on a connection, the rows an executemany of tuples (not the ORM, not
        per-row dicts): a replay's records are its largest write and need no objects.
        """
        with self.engine.begin() as session:
            # Counting first also locks the run row, so a concurrent finish waits for the batch.
            counted = session.execute(
                update(RunModel)
                .where(RunModel.id == run_id, RunModel.status == RunStatus.RUNNING.value)
                .values(
                    requests_recorded=RunModel.requests_recorded + len(requests),
                    series_recorded=RunModel.series_recorded + len(series),
                    lease_expires_at=self._lease_end(),  # progress renews the lease
                )
            )
            if counted.rowcount == 0:
                _raise_not_running(session, run_id)
            if requests:
                _insert_many(session, RequestModel, convert.REQUEST_COLUMNS,
                             [convert.request_values(run_id, r) for r in requests])
            if series:
                _insert_many(session, SeriesModel, convert.SERIES_COLUMNS,
                             [convert.series_values(run_id, s) for s in series])

    def finish(
        self,
        run_id: str,
        status: str,
        summary: dict | None,
        components: dict[str, dict[str, float]] | None = None,
        error: str = "",
    ) -> None:
        """End a RUNNING run; a `complete` one needs a summary. NotRunning if it already ended."""
        final = convert.parse(RunStatus, "status", status)
        if final is RunStatus.RUNNING:
            raise InvalidSpec("status", "finish needs a final status, not 'running'")
        if final is RunStatus.COMPLETE and summary is None:
            raise InvalidSpec("summary", "a complete run needs a summary")
        summary = None if summary is None else convert.jsonable("summary", summary)
        rows = convert.component_rows(run_id, components or {})
        with Session(self.engine) as session, session.begin():
            ended = _end_running(session, RunModel.id == run_id, final, error, summary)
            if ended == 0:
                _raise_not_running(session, run_id)
            if rows:
                session.execute(insert(ComponentModel), rows)

    def mark_interrupted(self, run_id: str, error: str) -> bool:
        """Mark a RUNNING run interrupted, keeping its records. False if it had already ended."""
        with Session(self.engine) as session, session.begin():
            ended = _end_running(session, RunModel.id == run_id, RunStatus.INTERRUPTED, error)
            if ended == 0:
                _require_run(session, run_id)
        return ended == 1

    def renew(self, run_id: str) -> None:
        """Extend a RUNNING run's lease (as every append does). NotRunning if it ended or was taken over."""
        with Session(self.engine) as session, session.begin():
            renewed = session.execute(
                update(RunModel)
                .where(RunModel.id == run_id, RunModel.status == RunStatus.RUNNING.value)
                .values(lease_expires_at=self._lease_end())
            )
            if renewed.rowcount == 0:
                _raise_not_running(session, run_id)

    def take_over_expired(self) -> list[str]:
        """At start-up: mark interrupted every RUNNING run whose lease expired (its process
        stopped storing batches), saying so in its error; live runs of other processes are
        left alone. Returns the ids taken over."""
        now = datetime.now(UTC)
        expired = and_(RunModel.status == RunStatus.RUNNING.value,
                       or_(RunModel.lease_expires_at.is_(None), RunModel.lease_expires_at < now))
        query = select(RunModel.id, RunModel.owner, RunModel.lease_expires_at).where(expired)
        taken = []
        with Session(self.engine) as session, session.begin():
            for run_id, owner, expires in session.execute(query).all():
                reason = takeover_reason(owner, expires, self.owner)
                if _end_running(session, and_(RunModel.id == run_id, expired), RunStatus.INTERRUPTED, reason):
                    taken.append(run_id)
        return taken

    def get_run(self, run_id: str) -> RunRow:
        """A run by its full id or a unique prefix of it (as git takes commits)."""
        with Session(self.engine) as session:
            run = session.get(RunModel, run_id) or session.get(RunModel, self.resolve_id(run_id))
            return convert.detached(RunRow, run)

    def resolve_id(self, prefix: str) -> str:
        """The full id of the one run whose id starts with `prefix`; UnknownName or InvalidSpec otherwise."""
        if not prefix or len(prefix) > 32 or any(c not in "0123456789abcdef" for c in prefix):
            raise UnknownName("run", prefix)
        query = select(RunModel.id).where(RunModel.id.startswith(prefix, autoescape=True)).limit(3)
        with Session(self.engine) as session:
            found = list(session.scalars(query))
        if not found:
            raise UnknownName("run", prefix)
        if len(found) > 1:
            raise InvalidSpec("run_id", f"{quote(prefix)} is the start of several runs ({', '.join(found[:2])}, ...): "
                                        f"give more characters")
        return found[0]

    def delete_run(self, run_id: str) -> str:
        """Delete a run that has ended, with everything it recorded; returns its full id."""
        run_id = self.resolve_id(run_id)
        with Session(self.engine) as session, session.begin():
            status = _require_run(session, run_id)
            if status == RunStatus.RUNNING.value:
                raise NotRunning(f"run {run_id} is still running: cancel it first")
            for model in (RequestModel, SeriesModel, ComponentModel):
                session.execute(delete(model).where(model.run_id == run_id))
            session.execute(delete(RunModel).where(RunModel.id == run_id))
        return run_id

    def list_runs(self, limit: int = 50, status: str | None = None) -> list[RunInfo]:
        """The newest runs first, optionally only those in one status."""
        _check_page(0, limit)
        query = select(*_INFO_COLUMNS).order_by(RunModel.created_at.desc(), RunModel.id.desc())
        if status is not None:
            wanted = convert.parse(RunStatus, "status", status).value
            query = query.where(RunModel.status == wanted)
        with Session(self.engine) as session:
            return [convert.detached(RunInfo, row) for row in session.execute(query.limit(limit))]

    def request_records(
        self, run_id: str, offset: int = 0, limit: int = 1000
    ) -> list[RequestRecord]:
        """One page of a run's request records, in the order they were recorded."""
        _check_page(offset, limit)
        columns = [getattr(RequestModel, name) for name in _REQUEST_FIELDS]
        query = select(*columns).where(RequestModel.run_id == run_id)
        query = query.order_by(RequestModel.id).offset(offset).limit(limit)
        with Session(self.engine) as session:
            _require_run(session, run_id)
            return [RequestRecord(*row) for row in session.execute(query)]

    def series(self, run_id: str, name: str | None = None) -> list[SeriesSample]:
        """A run's samples in the order they were recorded, optionally of one series only."""
        query = select(SeriesModel.t_s, SeriesModel.name, SeriesModel.value)
        query = query.where(SeriesModel.run_id == run_id).order_by(SeriesModel.id)
        if name is not None:
            query = query.where(SeriesModel.name == name)
        with Session(self.engine) as session:
            _require_run(session, run_id)
            rows = session.execute(query)
            return [SeriesSample(t, n, convert.nan_if_null(v)) for t, n, v in rows]

    def components(self, run_id: str) -> dict[str, dict[str, float]]:
        """Final per-component figures: {component path: {metric: value}}."""
        query = select(ComponentModel.component, ComponentModel.metric, ComponentModel.value)
        query = query.where(ComponentModel.run_id == run_id).order_by(ComponentModel.id)
        out: dict[str, dict[str, float]] = {}
        with Session(self.engine) as session:
            _require_run(session, run_id)
            for component, metric, value in session.execute(query):
                out.setdefault(component, {})[metric] = convert.nan_if_null(value)
        return out


def takeover_reason(owner: str, expires: datetime | None, by: str) -> str:
    if expires is None:
        return f"taken over at start-up by {by}: the run has no lease (written before leases existed)"
    return (f"taken over at start-up by {by}: its owner ({owner or 'unknown'}) stopped storing "
            f"records; its lease expired at {expires:%Y-%m-%d %H:%M:%S} UTC")


def _end_running(
    session: Session,
    which: ColumnElement[bool],
    status: RunStatus,
    error: str,
    summary: dict | None = None,
) -> int:
    """Move the chosen RUNNING runs to `status`; returns how many moved."""
    result = session.execute(
        update(RunModel)
        .where(which, RunModel.status == RunStatus.RUNNING.value)
        .values(status=status.value, finished_at=datetime.now(UTC), summary=summary, error=error)
    )
    return result.rowcount


def _require_run(session: Session, run_id: str) -> str:
    status = session.scalar(select(RunModel.status).where(RunModel.id == run_id))
    if status is None:
        raise UnknownName("run", run_id)
    return status


def _raise_not_running(session: Session, run_id: str) -> None:
    status = _require_run(session, run_id)
    raise NotRunning(f"run {run_id} is {status}, not running")


def _check_page(offset: int, limit: int) -> None:
    if offset < 0:
        raise InvalidSpec("offset", f"must be 0 or more, got {offset}")
    if limit < 1:
        raise InvalidSpec("limit", f"must be 1 or more, got {limit}")


# Placeholders by DB-API paramstyle: SQLite's driver takes qmark, psycopg takes %s.
_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _insert_many(connection, model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """INSERT `rows` (tuples in `columns` order) with the driver's own executemany."""
    mark = _PLACEHOLDER.get(connection.dialect.paramstyle)
    if mark is None:  # another driver: the Core statement with per-row dicts
        connection.execute(insert(model), [dict(zip(columns, row)) for row in rows])
        return
    table = connection.dialect.identifier_preparer.format_table(model.__table__)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    connection.exec_driver_sql(sql, rows)
