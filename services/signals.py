"""Ctrl-C and SIGTERM during a CLI run: stop at the next checkpoint, flush, mark, exit 130 / 143.

The first signal only asks the run to stop: the replay loop notices it between two
slices, so the records of the slice in progress are stored before the run is marked
(the stored summary and the stored records agree). A second signal stops at once
(KeyboardInterrupt), except inside a `deferred()` section, such as one batch's
transaction, which it waits for.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

REASONS = {signal.SIGINT: "interrupted by the user (Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)"}
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal number, as a shell reports


class StopSignals:
    """While entered (in the main thread), SIGINT and SIGTERM ask the run to stop."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._deferred = 0
        self._pending = False
        self._saved: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in REASONS:
                self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()

    @property
    def reason(self) -> str | None:
        return None if self.signum is None else REASONS[self.signum]

    @property
    def exit_code(self) -> int | None:
        return None if self.signum is None else EXIT_CODES[self.signum]

    def _handle(self, signum: int, _frame: object) -> None:
        if self.signum is None:
            self.signum = signum
        elif self._deferred:
            self._pending = True
        else:
            raise KeyboardInterrupt(REASONS[signum])

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """A section a second signal does not cut short (it takes effect right after)."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
        if self._pending and not self._deferred:
            self._pending = False
            raise KeyboardInterrupt(self.reason)
