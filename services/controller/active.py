"""A run in flight on the controller: its progress, and the flag that stops it.

The run's thread updates it; watchers wait on it. Versions let a watcher sleep until
something changed, and wake every so often to notice that its client went away.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Snapshot:
    run_id: str
    status: str = "running"
    finished: int = 0
    total: int = 0
    simulated_s: float = 0.0
    error: str = ""
    attempt: int = 1
    replica: str = ""  # the cluster replica of the current attempt


class ActiveRun:
    def __init__(self, run_id: str, total: int):
        self._snapshot = Snapshot(run_id, total=total)
        self._version = 0
        self._changed = threading.Condition()
        self.stop_reason: str | None = None  # "cancelled" or "interrupted" once asked to stop
        self.records = 0  # request records the run holds in memory (for the controller's limit)

    @property
    def run_id(self) -> str:
        return self._snapshot.run_id

    def update(self, **changes) -> None:
        with self._changed:
            self._snapshot = replace(self._snapshot, **changes)
            self._version += 1
            self._changed.notify_all()

    def bump(self) -> None:
        """One more thing finished (a sweep point)."""
        with self._changed:
            self._snapshot = replace(self._snapshot, finished=self._snapshot.finished + 1)
            self._version += 1
            self._changed.notify_all()

    def snapshot(self) -> tuple[Snapshot, int]:
        with self._changed:
            return self._snapshot, self._version

    def wait_newer(self, version: int, timeout_s: float) -> tuple[Snapshot, int]:
        """The snapshot once its version passes `version`, or the current one after `timeout_s`."""
        with self._changed:
            self._changed.wait_for(lambda: self._version > version, timeout=timeout_s)
            return self._snapshot, self._version

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    def should_stop(self) -> bool:
        return self.stop_reason is not None
