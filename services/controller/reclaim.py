"""Runs whose process died, reclaimed while the controller runs, not only when it starts.

A controller restarted within a dead run's lease finds nothing to take over at start-up; the
run's lease expires later. So the controller looks again every quarter lease (at most once a
minute): an expired run is marked interrupted with a summary of what it stored
(`Store.take_over_expired`).
"""

from __future__ import annotations

import logging
import threading

from services.store import Store

log = logging.getLogger(__name__)


def interval_s(lease_s: float) -> float:
    """How often to look: a quarter of the lease, between 0.5 s and 60 s."""
    return min(max(lease_s / 4, 0.5), 60.0)


class Reclaimer:
    """A daemon thread calling `store.take_over_expired()` until `stop`."""

    def __init__(self, store: Store):
        self.store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reclaim", daemon=True)

    def start(self) -> Reclaimer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def sweep(self) -> list[str]:
        taken = self.store.take_over_expired()
        if taken:
            log.warning("took over %d run(s) whose lease expired, marked interrupted: %s", len(taken),
                        ", ".join(taken))
        return taken

    def _loop(self) -> None:
        while not self._stop.wait(interval_s(self.store.lease_s)):
            try:
                self.sweep()
            except Exception as exc:  # noqa: BLE001 - e.g. the database is restarting: next time
                log.warning("could not look for runs whose lease expired: %s", exc)
