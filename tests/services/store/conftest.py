"""Run-store fixtures: a migrated database per test on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from services.store import Store, open_store
from services.store.db import create_store_engine

PG_URL_ENV = "TWIN_TEST_PG_URL"
EXAMPLE_PG_URL = "postgresql+psycopg://twin:twin@127.0.0.1:5432/twin_test"


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
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url) as opened:
        yield opened
