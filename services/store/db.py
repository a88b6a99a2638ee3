"""Where the run store lives: URL resolution, engine set-up and migration to the newest schema.

SQLite (a file by default) and PostgreSQL through psycopg 3 are supported.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import StaticPool

from services.store.lite import MIGRATIONS_DIR, head_revision  # noqa: F401 - stdlib only: the writer's too
from twin.errors import TwinError

URL_ENV = "TWIN_DATABASE_URL"
DEFAULT_URL = "sqlite:///twin.db"
PG_CONNECT_TIMEOUT_S = 10
# Any fixed key works: it only serialises concurrent upgrades of one PostgreSQL database.
_PG_MIGRATION_LOCK_KEY = 0x7477696E


class StoreError(TwinError):
    """The run store's database cannot be reached, or its schema cannot be brought up to date."""


class StoreUnavailable(StoreError):
    """A call failed because the database could not be reached (restarting, network, locked): the
    same call may succeed later. What it would have written was not written."""


def is_unreachable(exc: BaseException) -> bool:
    """Whether a SQLAlchemy error means the database was out of reach rather than a refusal: a lost
    or refused connection (OperationalError, InterfaceError, an invalidated connection)."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def resolve_url(url: str | None = None) -> str:
    """The URL given, else $TWIN_DATABASE_URL, else the SQLite file twin.db in the working dir."""
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def safe_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)


def database_label(url: str | None = None) -> str:
    """Where runs are stored, for people: a SQLite file as its absolute path, else the safe URL."""
    url = resolve_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        return safe_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return f"{Path(parsed.database).resolve()} (SQLite)"
    return safe_url(url)


def create_store_engine(url: str) -> Engine:
    """An engine for `url`; a bare postgresql:// URL uses psycopg 3. Does not connect."""
    try:
        parsed = make_url(url)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, **_engine_options(parsed))
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"cannot use database URL {safe_url(url)}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _engine_options(url: URL) -> dict[str, Any]:
    backend = url.get_backend_name()
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        # Every pooled connection to :memory: would see its own empty database; share one.
        return {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    if backend == "postgresql":
        # A long-lived service outlives database restarts: test connections before use.
        options: dict[str, Any] = {"pool_pre_ping": True}
        if "connect_timeout" not in url.query:
            options["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
        return options
    return {}


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite ignores REFERENCES unless asked, per connection.
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers (the CLI listing runs) proceed while a replay appends.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints rather than at every commit: the file cannot be
    # corrupted, a power cut may lose the last batches; a replay's batches then cost what they
    # cost in memory (issue 12: the file store within 1.2x of :memory:).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def alembic_config():
    """Alembic settings built in code, so no alembic.ini is needed at run time."""
    from alembic.config import Config

    config = Config()
    # ConfigParser interpolates '%', which may occur in an install path.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def _schema_is_current(engine: Engine) -> bool:
    """Whether the database is already at the newest revision, checked without importing Alembic
    (most opens of the store, so a command that only reads or appends starts faster)."""
    with engine.connect() as connection:
        try:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except DBAPIError:  # no version table yet: a new database
            return False
    return versions == [head_revision()]


def migrate(engine: Engine, url: str) -> None:
    """Upgrade the database to the newest schema; a StoreError names the URL if that fails."""
    try:
        if _schema_is_current(engine) or _created_new_sqlite(engine):
            return
    except OperationalError as exc:
        raise StoreError(f"cannot reach database {safe_url(url)}: {exc.orig}") from exc
    _upgrade(engine, url)


def _created_new_sqlite(engine: Engine) -> bool:
    """Give a new, empty SQLite database the newest schema from the models, stamped at the head
    revision (Alembic's recipe for building a database from scratch), without importing Alembic:
    the first replay on a machine starts faster. The migrations tests hold the two schemas equal.
    False (Alembic then migrates) for other databases, a non-empty one, or a concurrent creator."""
    if engine.dialect.name != "sqlite":
        return False
    from services.store.models import Base

    try:
        with engine.begin() as connection:
            if connection.execute(text("SELECT count(*) FROM sqlite_master")).scalar():
                return False
            Base.metadata.create_all(connection)
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                                    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head_revision()})
    except DBAPIError:
        return False
    return True


def _upgrade(engine: Engine, url: str) -> None:
    from alembic import command
    from alembic.util import CommandError

    config = alembic_config()
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise StoreError(f"cannot reach database {safe_url(url)}: {exc.orig}") from exc
    except (CommandError, DBAPIError) as exc:  # e.g. an unknown revision, no CREATE right
        raise StoreError(f"cannot migrate database {safe_url(url)}: {exc}") from exc
