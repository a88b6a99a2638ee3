"""The run store: runs, their records and summaries in SQLite or PostgreSQL (via SQLAlchemy).

The names below load on first use (PEP 562), so that importing a light submodule such as
`services.store.writer` does not import SQLAlchemy: `twin replay` keeps the SQL layer in its
store writer process.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from services.store.db import StoreError
    from services.store.repo import Store, open_store
    from services.store.rows import RunInfo, RunKind, RunRow, RunStatus

_HOMES = {"StoreError": "db", "Store": "repo", "open_store": "repo",
          "RunInfo": "rows", "RunKind": "rows", "RunRow": "rows", "RunStatus": "rows"}

__all__ = ["RunInfo", "RunKind", "RunRow", "RunStatus", "Store", "StoreError", "open_store"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value  # later lookups skip this function
    return value
