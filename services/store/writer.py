"""The run store in a child process, for `twin replay` on a 2-core machine.

`StoreWriter` offers the `Store` methods `services.runner.stored_replay` calls and forwards them
over a pipe to a forked child that owns the real `Store`. The child imports SQLAlchemy, opens and
migrates the database and commits the batches on the other core while this process reads the
trace and simulates, and this process never imports the SQL layer.

Why a process (not a thread): the store's Python work (SQLAlchemy, building rows) would hold the
GIL against the simulation. Why fork: the child inherits the modules already imported (the
record types) and starts at once, before the parent has read the trace.

What stays as with the in-process store:
- `open_store` errors reach the user as the same one line, before any simulation (`open`);
- `create_run`, `finish` and `mark_interrupted` wait for the child's answer; `append` does not,
  but batches are committed in order, one transaction each, so a `finish` or `mark_interrupted`
  that follows them counts exactly the records stored. A failed batch makes the child mark the
  run interrupted with what it kept and report one line, which the next call here raises;
- the child ignores SIGINT/SIGTERM (Ctrl-C reaches the whole process group) and obeys this
  process; if this process dies without finishing the run (SIGKILL), the child reads end-of-file,
  marks the run interrupted, saying so, and exits. `close` always joins it, killing it if it hangs.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import signal
from contextlib import contextmanager
from typing import Iterator

from twin.errors import TwinError
from twin.metrics import RequestRecord, SeriesSample

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
# A batch of records is about 0.5 MB pickled: a 1 MiB pipe (Linux's default limit for a user) holds
# one while the child commits the one before, and blocks beyond that, so memory stays bounded.
PIPE_BYTES = 1 << 20
JOIN_S = 30.0  # an exiting child at most commits what was sent and marks the run; then it is killed


class WriterError(TwinError):
    """The store (in the writer process) refused or failed; the message is its own one line."""


@contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """Around the fork: a Ctrl-C cannot reach the child before it ignores the signals."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class StoreWriter:
    """A `Store` for one replay, kept by a child process (see the module docstring)."""

    def __init__(self, url: str | None, owner: str):
        ctx = multiprocessing.get_context("fork")
        self._requests_in, self._requests = ctx.Pipe(duplex=False)
        self._replies, replies_out = ctx.Pipe(duplex=False)
        _widen(self._requests)
        from services.store import child  # here: child.py imports this module
        with _stop_signals_blocked():
            # Not a daemon: multiprocessing would stop one at exit with SIGTERM, which it ignores.
            self.process = ctx.Process(target=child.main, name="twin-store-writer", daemon=False,
                                       args=(self._requests_in, replies_out, (self._requests, self._replies),
                                             url, owner, os.getpid()))
            self.process.start()
        self._requests_in.close()  # the child's ends: only it holds them now, so each side sees
        replies_out.close()        # end-of-file when the other exits
        self.url, self.failed, self.broken, self.asked_to_open = url, None, False, False
        self.unfinished: set[str] = set()  # runs created and not yet ended, for a child that dies

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def open(self) -> str:
        """Have the child open (and migrate) the store; its label for people. WriterError if it cannot."""
        self.asked_to_open = True
        return self._call("open")

    def create_run(self, *, kind: str, trace: str, spec: dict, policy: dict) -> str:
        run_id = self._call("create_run", kind=kind, trace=trace, spec=spec, policy=policy)
        self.unfinished.add(run_id)
        return run_id

    def append(self, run_id: str, requests: list[RequestRecord], series: list[SeriesSample]) -> None:
        """Send one batch; the child commits it in one transaction. A failure the child reported
        earlier is raised here (the batch is then not sent)."""
        self._raise_failed()
        # as plain tuples: they pickle about 6x faster than the named ones
        self._send(("append", run_id, list(map(tuple, requests)), list(map(tuple, series))))

    def finish(self, run_id: str, status: str, summary: dict | None,
               components: dict[str, dict[str, float]] | None = None, error: str = "") -> None:
        self._call("finish", run_id, status, summary, components, error)
        self.unfinished.discard(run_id)

    def mark_interrupted(self, run_id: str, error: str) -> bool:
        marked = self._call("mark_interrupted", run_id, error)
        self.unfinished.discard(run_id)
        return marked

    def close(self) -> None:
        """Ask the child to end (an unfinished run is marked interrupted) and join it, by pid. Before
        `open` it has touched no database: it is killed at once rather than waited for (a bad option
        then costs no wait for its imports)."""
        if not self.asked_to_open:
            self.process.kill()
        self.end()
        self.process.join(JOIN_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._replies.close()
        if self.unfinished and self.process.exitcode != 0:
            self._mark_unfinished()

    def end(self) -> None:
        """Tell the child there are no more calls: it exits while this process goes on (e.g. prints
        the summary); `close` joins it."""
        if self._requests.closed:
            return
        try:
            self._requests.send(("close",))
        except OSError:  # it has gone already
            pass
        self._requests.close()

    def _mark_unfinished(self) -> None:
        """The child died (killed, out of memory) with a run still running: mark it from here, which
        imports the SQL layer, but only on this path. If the database fails too, a later start-up's
        lease takeover marks it."""
        reason = (f"its store writer process (pid {self.process.pid}) ended unexpectedly (exit code "
                  f"{self.process.exitcode}); the records it stored are kept")
        try:
            from services.store import open_store
            with open_store(self.url) as store:
                for run_id in sorted(self.unfinished):
                    store.mark_interrupted(run_id, reason)
        except Exception:  # noqa: BLE001 - the user has had the writer's error already
            pass

    def _call(self, op: str, *args, **kwargs):
        if self.broken:
            raise WriterError("the store writer was interrupted in the middle of a call")
        try:
            self._send((op, args, kwargs))
            return self._reply()
        except BaseException:  # e.g. a KeyboardInterrupt while waiting: its answer would come late
            self.broken = True
            raise

    def _send(self, message: tuple) -> None:
        try:
            self._requests.send(message)
        except OSError:
            raise self._gone() from None

    def _reply(self):
        """The answer to the last call; a batch's failure reported meanwhile is remembered."""
        while True:
            kind, value = self._recv()
            if kind == "failed":
                self.failed = value
            elif kind == "error":
                raise WriterError(value)
            else:
                return value

    def _raise_failed(self) -> None:
        # Between calls the child says something only when a batch failed.
        if self.failed is None and self._replies.poll():
            self.failed = self._recv()[1]
        if self.failed is not None:
            raise WriterError(self.failed)

    def _recv(self) -> tuple[str, object]:
        try:
            return self._replies.recv()
        except (EOFError, OSError):
            raise self._gone() from None

    def _gone(self) -> WriterError:
        self.process.join(1.0)
        return WriterError(f"the store writer process (pid {self.process.pid}) ended unexpectedly "
                           f"(exit code {self.process.exitcode})")


def _widen(connection) -> None:
    """Give the request pipe PIPE_BYTES of buffer where Linux allows (best effort)."""
    try:
        fcntl.fcntl(connection.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, OSError):
        pass
