"""The run store: runs, their records and summaries in SQLite or PostgreSQL (via SQLAlchemy)."""

from services.store.db import StoreError
from services.store.repo import Store, open_store
from services.store.rows import RunInfo, RunKind, RunRow, RunStatus

__all__ = ["RunInfo", "RunKind", "RunRow", "RunStatus", "Store", "StoreError", "open_store"]
