"""Opening the run store from a service, which may start before its database."""

from __future__ import annotations

import logging
import time

from services.store import Store, StoreError, open_store

log = logging.getLogger(__name__)


def open_store_patiently(url: str | None, tries: int = 30, pause_s: float = 2.0, owner: str | None = None) -> Store:
    """The store (migrated), waiting for a database that is still starting (compose starts them together)."""
    for attempt in range(1, tries + 1):
        try:
            return open_store(url, owner)
        except StoreError as exc:
            if attempt == tries:
                raise
            log.warning("%s; retrying in %.0f s", exc, pause_s)
            time.sleep(pause_s)
    raise AssertionError("unreachable")
