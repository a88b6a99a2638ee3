"""The run store: runs, their request records, time series and component figures in SQL.

Every method opens its own session, so one `Store` may serve many threads. A run is
created RUNNING, receives batches through `append` (each batch commits atomically,
so whatever was appended survives a crash) and ends, through `finish` or the
interruption helpers, in exactly one final status.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, delete, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from services.store import convert
from services.store.db import StoreUnavailable, create_store_engine, is_unreachable, migrate, resolve_url
from services.store.models import ComponentModel, RequestModel, RunModel, SeriesModel
from services.store.rows import (DEFAULT_LEASE_S, LEASE_ENV, RunInfo, RunKind, RunRow, RunStatus,  # noqa: F401
                                 lease_seconds, process_owner)
from services.store.stored import stored_summary
from twin.errors import InvalidSpec, NotRunning, UnknownName, quote
from twin.metrics import RequestRecord, SeriesSample

_REQUEST_FIELDS = RequestRecord._fields
_INFO_COLUMNS = tuple(getattr(RunModel, f.name) for f in fields(RunInfo))
def open_store(url: str | None = None, owner: str | None = None) -> Store:
    """Open the store at `url` (else $TWIN_DATABASE_URL, else sqlite:///twin.db) and migrate it.

    Runs it creates are owned by `owner` (default: this process, see `process_owner`) with a
    lease of $TWIN_RUN_LEASE_S seconds. Every opening reclaims the runs whose lease expired (their
    process died), so no command ever shows a dead run as running. Raises `StoreError` naming the
    URL (password hidden) when the database is unreachable.
    """
    url = resolve_url(url)
    lease_s = lease_seconds()
    engine = create_store_engine(url)
    try:
        migrate(engine, url)
    except BaseException:
        engine.dispose()
        raise
    store = Store(engine, owner, lease_s)
    try:
        store.take_over_expired()
    except (StoreUnavailable, SQLAlchemyError):  # e.g. SQLite busy: the next opener reclaims them
        pass
    return store


@contextmanager
def _reachable():
    """A lost connection becomes StoreUnavailable (the caller may try again); nothing else changes."""
    try:
        yield
    except SQLAlchemyError as exc:
        if is_unreachable(exc):
            raise StoreUnavailable(f"the database is unreachable: {getattr(exc, 'orig', None) or exc}") from exc
        raise


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
        self, run_id: str, requests: list[RequestRecord], series: list[SeriesSample],
        after: tuple[int, int] | None = None,
    ) -> None:
        """Store one batch in one transaction: all of it, with the run's counters, or none.

        With `after` (the requests and samples the caller stored before this batch), a batch is
        stored only on top of exactly those: one retried after a commit whose answer was lost (the
        database restarted) is recognised as stored and not stored twice. StoreUnavailable if the
        database could not be reached (the batch was then not stored, or is recognised on retry).

        Plain statements on a connection, the rows an executemany of tuples (not the ORM, not
        per-row dicts): a replay's records are its largest write and need no objects.
        """
        with _reachable(), self.engine.begin() as session:
            which = [RunModel.id == run_id, RunModel.status == RunStatus.RUNNING.value]
            if after is not None:
                which += [RunModel.requests_recorded == after[0], RunModel.series_recorded == after[1]]
            # Counting first also locks the run row, so a concurrent finish waits for the batch.
            counted = session.execute(
                update(RunModel)
                .where(*which)
                .values(
                    requests_recorded=RunModel.requests_recorded + len(requests),
                    series_recorded=RunModel.series_recorded + len(series),
                    lease_expires_at=self._lease_end(),  # progress renews the lease
                )
            )
            if counted.rowcount == 0:
                if after is not None and _already_stored(session, run_id, after, len(requests), len(series)):
                    return
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
        with _reachable(), Session(self.engine) as session, session.begin():
            ended = _end_running(session, RunModel.id == run_id, final, error, summary)
            if ended == 0:
                _raise_not_running(session, run_id)
            if rows:
                session.execute(insert(ComponentModel), rows)

    def mark_interrupted(self, run_id: str, error: str) -> bool:
        """Mark a RUNNING run interrupted, keeping its records, with a summary of exactly the records
        stored (see `stored.stored_summary`). False if it had already ended."""
        with _reachable(), Session(self.engine) as session, session.begin():
            ended = _end_with_stored_summary(session, run_id, RunModel.id == run_id, RunStatus.INTERRUPTED, error)
            if not ended:
                _require_run(session, run_id)
        return ended

    def renew(self, run_id: str) -> None:
        """Extend a RUNNING run's lease (as every append does). NotRunning if it ended or was taken over."""
        with _reachable(), Session(self.engine) as session, session.begin():
            renewed = session.execute(
                update(RunModel)
                .where(RunModel.id == run_id, RunModel.status == RunStatus.RUNNING.value)
                .values(lease_expires_at=self._lease_end())
            )
            if renewed.rowcount == 0:
                _raise_not_running(session, run_id)

    def take_over_expired(self) -> list[str]:
        """Mark interrupted every RUNNING run whose lease expired (its process stopped storing
        batches), saying so in its error, with a summary of the records it stored; live runs of
        other processes are left alone. `open_store` does this; a long-lived service repeats it.
        Returns the ids taken over."""
        expired = _expired()
        query = select(RunModel.id, RunModel.owner, RunModel.lease_expires_at).where(expired)
        taken = []
        with _reachable(), Session(self.engine) as session, session.begin():
            for run_id, owner, expires in session.execute(query).all():
                reason = takeover_reason(owner, expires, self.owner)
                if _end_with_stored_summary(session, run_id, and_(RunModel.id == run_id, expired),
                                            RunStatus.INTERRUPTED, reason):
                    taken.append(run_id)
        return taken

    def end_orphan(self, run_id: str, status: str, error: str) -> bool:
        """End a RUNNING run whose lease expired (nobody drives it) in `status`, with a summary of
        its stored records. False if it is not running, or is running with a live lease."""
        final = convert.parse(RunStatus, "status", status)
        with _reachable(), Session(self.engine) as session, session.begin():
            return _end_with_stored_summary(session, run_id, and_(RunModel.id == run_id, _expired()), final, error)

    def driver(self, run_id: str) -> tuple[str, datetime | None]:
        """Who drives a run (its owner) and until when its lease runs (UTC)."""
        query = select(RunModel.owner, RunModel.lease_expires_at).where(RunModel.id == run_id)
        with Session(self.engine) as session:
            row = session.execute(query).one_or_none()
        if row is None:
            raise UnknownName("run", run_id)
        return row[0] or "an unknown process", row[1]

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
        self.end_orphan(run_id, RunStatus.INTERRUPTED.value, f"deleted by {self.owner} after its lease expired")
        with Session(self.engine) as session, session.begin():
            status = _require_run(session, run_id)
            if status == RunStatus.RUNNING.value:
                owner, expires = self.driver(run_id)
                raise NotRunning(f"run {run_id} is still running in {owner} (its lease runs to "
                                 f"{_utc(expires)}): stop it there first")
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
        return f"taken over by {by}: the run has no lease (written before leases existed)"
    return (f"taken over by {by}: its owner ({owner or 'unknown'}) stopped storing records; its lease "
            f"expired at {_utc(expires)}; the records it stored are kept and summarised")


def _utc(moment: datetime | None) -> str:
    return "an unknown time" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _expired() -> ColumnElement[bool]:
    """RUNNING runs whose lease ran out (or that never had one)."""
    return and_(RunModel.status == RunStatus.RUNNING.value,
                or_(RunModel.lease_expires_at.is_(None), RunModel.lease_expires_at < datetime.now(UTC)))


def _end_with_stored_summary(session: Session, run_id: str, which: ColumnElement[bool], status: RunStatus,
                             error: str) -> bool:
    """End the run if `which` still holds, then summarise its records: the status change locks the
    row first, so no batch can be added between the two and the summary counts exactly what is kept."""
    if not _end_running(session, which, status, error):
        return False
    summary = stored_summary(session, run_id, status.value)
    summary = None if summary is None else convert.jsonable("summary", summary)
    session.execute(update(RunModel).where(RunModel.id == run_id).values(summary=summary))
    return True


def _already_stored(session, run_id: str, after: tuple[int, int], requests: int, series: int) -> bool:
    """Whether the run's counters already include this batch on top of `after` (its commit was lost)."""
    row = session.execute(select(RunModel.status, RunModel.requests_recorded, RunModel.series_recorded)
                          .where(RunModel.id == run_id)).one_or_none()
    if row is None or row[0] != RunStatus.RUNNING.value:
        return False
    if (row[1], row[2]) == (after[0] + requests, after[1] + series):
        return True
    raise InvalidSpec("after", f"run {run_id} holds {row[1]} requests and {row[2]} samples, not the "
                               f"{after[0]} and {after[1]} this batch follows")


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
