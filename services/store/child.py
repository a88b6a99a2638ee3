"""The store writer's child process: it owns the real `Store` of one `twin replay` (see writer.py).

It answers the parent's calls in the order they were sent, so a batch sent before `finish` is
committed before the run ends. Runs it created and the parent did not end are marked interrupted
when the parent closes the store or dies (end-of-file on the request pipe), with every record
stored so far and a summary computed from exactly those records (`Store.mark_interrupted`).
"""

from __future__ import annotations

import signal
import sys

from services.common.messages import one_line
from services.store.lite import open_lite, sqlite_file
from services.store.writer import STOP_SIGNALS
from twin.metrics import RequestRecord, SeriesSample

CALLS = frozenset({"create_run", "finish", "mark_interrupted"})  # the Store methods a parent may call


def main(requests, replies, parent_ends: tuple, url: str | None, owner: str, parent_pid: int) -> None:
    """The child's whole life; never a traceback on the user's terminal (errors travel as one line)."""
    for signum in STOP_SIGNALS:  # the parent decides how a run stops: Ctrl-C hits the whole group
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    for end in parent_ends:  # else this process would keep its own request pipe open: no end-of-file
        end.close()
    try:
        if sqlite_file(url) is None:  # SQLAlchemy's imports are the slow part: while the parent reads the trace
            _load_dialect(url)
        store = _open(requests, replies, url, owner)
        if store is not None:
            with store:
                Keeper(store, replies, parent_pid).serve(requests)
    except BaseException:  # noqa: BLE001 - the parent reports a writer that ended unexpectedly
        sys.exit(1)


def _load_dialect(url: str | None) -> None:
    """Import the database's SQLAlchemy dialect now (0.06 s for SQLite, which `create_engine` would
    import on opening, while the parent waits). Nothing is opened or created; a URL that cannot be
    parsed is left for `open_store` to report."""
    from sqlalchemy.engine import make_url
    from services.store.db import resolve_url
    try:
        make_url(resolve_url(url)).get_dialect()
    except Exception:  # noqa: BLE001 - opening says what is wrong with the URL, as one line
        pass


def _open(requests, replies, url: str | None, owner: str):
    """The store, opened when the parent asks (only once its trace is read: a bad trace leaves no
    new database file), its label sent as the reply; None if the parent left or opening failed.
    A SQLite file the stdlib can keep gets a LiteStore (lite.py), anything else `repo.Store`."""
    try:
        if requests.recv()[0] != "open":
            return None
    except (EOFError, OSError):
        return None
    try:
        store = open_lite(url, owner)
        if store is not None:
            replies.send(("ok", store.label))
            return store
        from services.store import repo
        store = repo.open_store(url, owner=owner)
    except Exception as exc:  # noqa: BLE001 - one line to the user, as the in-process store gave
        replies.send(("error", one_line(exc)))
        return None
    from services.store.db import database_label
    replies.send(("ok", database_label(url)))
    return store


class Keeper:
    """Applies the parent's calls to the store and remembers which runs it left unfinished."""

    def __init__(self, store, replies, parent_pid: int):
        self.store, self.replies, self.parent_pid = store, replies, parent_pid
        self.unfinished: set[str] = set()
        self.failed: str | None = None  # a batch that did not commit: later batches are dropped

    def serve(self, requests) -> None:
        while True:
            try:
                message = requests.recv()
            except (EOFError, OSError):  # the parent died (even mid-message)
                return self.abandon(f"its twin replay process (pid {self.parent_pid}) ended before finishing "
                                    "the run; the records stored until then are kept")
            if message[0] == "close":
                return self.abandon(f"its twin replay process (pid {self.parent_pid}) stopped before finishing "
                                    "the run; the records stored until then are kept")
            try:
                self.append(*message[1:]) if message[0] == "append" else self.answer(*message)
            except OSError:  # the parent is gone: it can no longer hear an answer
                return self.abandon(f"its twin replay process (pid {self.parent_pid}) ended before finishing "
                                    "the run; the records stored until then are kept")

    def append(self, run_id: str, requests: list[tuple], series: list[tuple]) -> None:
        if self.failed is not None:
            return
        try:
            self.store.append(run_id, [RequestRecord(*r) for r in requests], [SeriesSample(*s) for s in series])
        except Exception as exc:  # noqa: BLE001 - as the in-process runner: mark the run with what was kept
            self.failed = one_line(exc)
            self._mark(run_id, f"{type(exc).__name__}: {exc}")
            self.replies.send(("failed", self.failed))

    def answer(self, op: str, args: tuple, kwargs: dict) -> None:
        try:
            if op not in CALLS:
                raise ValueError(f"the store writer has no call {op!r}")
            if self.failed is not None and op != "mark_interrupted":
                raise RuntimeError(self.failed)
            value = getattr(self.store, op)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the parent raises it as one line
            self.replies.send(("error", one_line(exc)))
            return
        if op == "create_run":
            self.unfinished.add(value)
        else:
            self.unfinished.discard(args[0])
        self.replies.send(("ok", value))

    def abandon(self, reason: str) -> None:
        """Mark the runs the parent left unfinished; exit 1 if one could not be, so the parent (if it is
        still there) marks it itself rather than leave it running until a lease takeover."""
        unmarked = [run_id for run_id in sorted(self.unfinished) if not self._mark(run_id, reason)]
        if unmarked:
            sys.exit(1)

    def _mark(self, run_id: str, reason: str) -> bool:
        try:
            self.store.mark_interrupted(run_id, reason)
        except Exception:  # noqa: BLE001 - e.g. the database is locked: the caller says so by its exit code
            return False
        self.unfinished.discard(run_id)
        return True
