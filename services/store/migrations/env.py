"""Alembic environment of the run store.

`services.store.db.migrate` hands over an open connection; the alembic command line
(``alembic -c services/store/alembic.ini ...``) connects to $TWIN_DATABASE_URL instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from services.store.db import create_store_engine, resolve_url
from services.store.models import Base


def _run(connection: Connection) -> None:
    # Batch mode lets future migrations alter SQLite tables, which lack most ALTER forms.
    context.configure(
        connection=connection, target_metadata=Base.metadata, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or resolve_url()
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or resolve_url()
    engine = create_store_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
