"""Run-store fixtures: a migrated store per test, on each database `db_url` (tests/services/conftest.py) gives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.store import Store, open_store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url) as opened:
        yield opened
