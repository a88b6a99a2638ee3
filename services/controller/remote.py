"""A replay driven on a cluster replica over gRPC, stored exactly as the embedded replay stores it.

The controller opens a Session (one stream, hence one replica), creates the twin,
submits the trace as columns, then advances in the slices `twin.replay.replay` uses,
draining the records after each slice. The next slice is asked for before the drained
records are stored, so the replica simulates while the controller writes; records are
stored in batches as large as the embedded replay's. Same twin, same steps: the same
records and the same summary as an embedded run.

If the replica goes away mid-run, the replay starts again on another replica (the load
balancer picks one). The simulation is deterministic, so the records already stored
are recognised by position and skipped, never stored twice.
"""

from __future__ import annotations

import json
import logging
import queue
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import grpc

from services.common import columns, convert
from services.store.db import StoreUnavailable
from twin.metrics import RequestRecord, SeriesSample
from twin.replay import SINK_BATCH, SINK_EVERY_S, Progress, RunSpec, slice_seconds
from twin.serving.request import TraceRequest
from twin_api.v1 import cluster_pb2, cluster_pb2_grpc

log = logging.getLogger(__name__)

# One Submit message holds at most SUBMIT_CHUNK requests and SUBMIT_BYTES of columns (bounded
# by `_column_bytes`), half the servers' 16 MiB message limit; a larger request goes alone.
SUBMIT_CHUNK = 10_000
SUBMIT_BYTES = 8 * 1024 * 1024
DRAIN_BATCH = 20_000  # records per RecordBatch asked for (columns: about 1.5 MB)
# Wall seconds one Advance should take at least. Each Advance costs four messages and a progress
# update, about 3 ms of CPU through Python gRPC; a twin that runs one of twin.replay's slices in
# a few milliseconds would spend more on messages than on simulating. 50 ms keeps progress and
# a cancel's reaction at about twenty a second.
SLICE_WALL_S = 0.05
# Slices in one Advance at most: a cancel is seen between Advances, so a long quiet stretch
# that grew the count must not make the busy stretch after it one long Advance.
MAX_SLICES = 32
# A replica that died or shut down; the run can go on elsewhere.
FAILOVER_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.ABORTED,
                  grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
_END = object()
# Retries of a store out of reach: the first after OUTAGE_BACKOFF_S, growing with the outage's length
# (doubling each second of it) up to OUTAGE_BACKOFF_MAX_S.
OUTAGE_BACKOFF_S = 0.1
OUTAGE_BACKOFF_MAX_S = 2.0


class ClusterLost(Exception):
    """The replica ended the session without answering."""


class ClusterSession:
    """One Session stream: commands go out as they are sent, replies are read in order."""

    def __init__(self, stub: cluster_pb2_grpc.ClusterTwinStub, timeout_s: float):
        self._commands: queue.Queue = queue.Queue()
        self._replies = stub.Session(iter(self._commands.get, _END), timeout=timeout_s)

    def send(self, **command) -> None:
        """Queue a command without waiting: the replica works on it while the caller goes on."""
        self._commands.put(cluster_pb2.SessionRequest(**command))

    def reply(self) -> cluster_pb2.SessionReply:
        try:
            return next(self._replies)
        except StopIteration:
            raise ClusterLost("the cluster replica ended the session") from None

    def ask(self, **command) -> cluster_pb2.SessionReply:
        self.send(**command)
        return self.reply()

    def send_drain(self) -> None:
        """Ask for the records made since the last drain, as columns (read them with `records`)."""
        self.send(drain=cluster_pb2.DrainRequest(batch_records=DRAIN_BATCH, columns=True))

    def records(self) -> tuple[list[RequestRecord], list[SeriesSample]]:
        """The batches replying to a drain, up to the last."""
        requests: list[RequestRecord] = []
        series: list[SeriesSample] = []
        while True:
            batch = self.reply().records
            requests += columns.records(batch.request_columns)
            series += columns.samples(batch.sample_columns)
            if batch.last:
                return requests, series

    def close(self) -> None:
        self._commands.put(_END)
        self._replies.cancel()


def submit_chunks(requests: Sequence[TraceRequest]) -> Iterator[Sequence[TraceRequest]]:
    """`requests` in order, in slices of at most SUBMIT_CHUNK requests and SUBMIT_BYTES of columns."""
    start = size = 0
    for i, r in enumerate(requests):
        more = _column_bytes(r)
        if i > start and (i - start >= SUBMIT_CHUNK or size + more > SUBMIT_BYTES):
            yield requests[start:i]
            start, size = i, 0
        size += more
    if start < len(requests):
        yield requests[start:]


def _column_bytes(r: TraceRequest) -> int:
    """At most what `r` adds to a TraceColumns message: 10-byte varints, 8-byte doubles, 5-byte
    counts, its session id as UTF-8 (4 bytes a character at most, a tag and a length) and,
    per block, an id and a size."""
    return 10 + 8 + 5 + 5 + 5 + (6 + 4 * len(r.session_id or "")) + 15 * len(r.block_ids)


@dataclass
class Slices:
    """How many of twin.replay's slices one Advance runs: doubled while an Advance takes under
    `wall_s` of wall time, halved (down to one) while it takes over four times that. The
    replica runs them one by one and stops after the first at whose end every request
    finished, so the run ends where an embedded replay ends."""

    wall_s: float = SLICE_WALL_S
    count: int = 1

    def next(self, took_s: float | None = None) -> int:
        """Slices in the next Advance, after one that took `took_s` wall seconds (None: the first)."""
        if took_s is not None and took_s < self.wall_s:
            self.count = min(2 * self.count, MAX_SLICES)
        elif took_s is not None and took_s > 4 * self.wall_s:
            self.count = max(1, self.count // 2)
        return self.count


class DatabaseOutage(Exception):
    """The store stayed out of reach for longer than the sink's `outage_s`."""


@dataclass
class StoreSink:
    """Appends drained records to a run in batches, skipping those an earlier attempt already stored.

    Like the embedded replay, a batch goes to the store once it holds `batch` records and
    samples, or `every_s` wall seconds after the previous one (each renews the run's lease),
    or at the end (`final`). Records held when an attempt is lost are dropped: the next
    attempt makes them again.

    While the database is out of reach (StoreUnavailable), records are held and the append
    retried with backoff; the replay goes on until `cap` records and samples are held (the run's
    share of TWIN_MAX_RECORDS_IN_MEMORY), then waits for the store. Each batch says what it
    follows (`stored`), so one whose commit was lost is not stored twice. An outage longer than
    `outage_s` raises DatabaseOutage, the held records dropped: the run keeps what was stored."""

    append: Callable[[list[RequestRecord], list[SeriesSample], tuple[int, int]], None]
    batch: int = SINK_BATCH
    every_s: float = SINK_EVERY_S
    outage_s: float = 60.0
    cap: int = SINK_BATCH
    stored: tuple[int, int] = (0, 0)  # requests, samples appended so far
    seen: tuple[int, int] = (0, 0)  # requests, samples drained in this attempt
    held: tuple[list, list] = field(default_factory=lambda: ([], []))  # taken, not yet appended
    last_s: float = field(default_factory=time.monotonic)
    down_since: float | None = None  # when the store first failed in the current outage
    retry_at: float = 0.0

    def restart(self) -> None:
        self.seen, self.held = (0, 0), ([], [])

    def __call__(self, requests: list[RequestRecord], series: list[SeriesSample], final: bool = False) -> None:
        (r_seen, s_seen), (held_r, held_s) = self.seen, self.held
        r_kept, s_kept = self.stored[0] + len(held_r), self.stored[1] + len(held_s)
        self.seen = (r_seen + len(requests), s_seen + len(series))
        held_r += requests[max(0, r_kept - r_seen):]
        held_s += series[max(0, s_kept - s_seen):]
        full = len(held_r) + len(held_s) > max(self.cap, self.batch)
        if final or full:
            self.flush()
        elif self.down_since is not None:
            if time.monotonic() >= self.retry_at:
                self.flush(wait=False)
        elif len(held_r) + len(held_s) >= self.batch or time.monotonic() - self.last_s >= self.every_s:
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        """Append what is held; with `wait`, retry until the store takes it (or DatabaseOutage)."""
        requests, series = self.held
        while True:
            try:
                self.append(requests, series, self.stored)
                break
            except StoreUnavailable as exc:
                self._down(exc)
                if not wait:
                    return
                time.sleep(max(0.0, self.retry_at - time.monotonic()))
        if self.down_since is not None:
            log.warning("the database is back after %.1f s; storing goes on", time.monotonic() - self.down_since)
        self.stored = (self.stored[0] + len(requests), self.stored[1] + len(series))
        self.held, self.last_s, self.down_since = ([], []), time.monotonic(), None

    def _down(self, exc: StoreUnavailable) -> None:
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
            log.warning("%s; holding records and retrying for up to %g s (TWIN_DB_OUTAGE_S)", exc, self.outage_s)
        down_s = now - self.down_since
        if down_s > self.outage_s:
            raise DatabaseOutage(f"the database was out of reach for more than {self.outage_s:g} s "
                                 f"(TWIN_DB_OUTAGE_S): {exc}") from exc
        self.retry_at = now + min(OUTAGE_BACKOFF_S * 2 ** min(down_s, 30), OUTAGE_BACKOFF_MAX_S, self.outage_s - down_s)


@dataclass
class Outcome:
    status: str
    summary: dict | None
    error: str
    components: dict[str, dict[str, float]]
    attempts: int


class RemoteReplay:
    def __init__(self, stub: cluster_pb2_grpc.ClusterTwinStub, spec: RunSpec, requests: list[TraceRequest],
                 sink: StoreSink, *, progress: Progress, stop_reason: Callable[[], str | None],
                 attempts: int = 3, timeout_s: float = 3600.0):
        self.stub, self.spec, self.requests, self.sink = stub, spec, requests, sink
        self.progress, self.stop_reason = progress, stop_reason
        self.attempts, self.timeout_s = attempts, timeout_s

    def run(self, on_attempt: Callable[[int, str], None] = lambda *_: None) -> Outcome:
        """Replay, failing over to another replica up to `attempts` times; `on_attempt(n, replica)`."""
        for attempt in range(1, self.attempts + 1):
            self.sink.restart()
            try:
                return self._attempt(attempt, on_attempt)
            except (grpc.RpcError, ClusterLost) as exc:
                code = exc.code() if isinstance(exc, grpc.RpcError) else grpc.StatusCode.UNAVAILABLE
                error = f"cluster replica lost ({code.name}): {_details(exc)}"
                if code not in FAILOVER_CODES or attempt == self.attempts or self.stop_reason():
                    return Outcome("failed", None, f"{error}; gave up after {attempt} attempt(s)", {}, attempt)
                log.warning("%s; starting attempt %d on another replica", error, attempt + 1)
        raise AssertionError("unreachable")

    def _attempt(self, attempt: int, on_attempt: Callable[[int, str], None]) -> Outcome:
        session = ClusterSession(self.stub, self.timeout_s)
        try:
            twin = session.ask(create=cluster_pb2.CreateTwinRequest(spec=convert.twin_spec(self.spec))).twin
            on_attempt(attempt, twin.replica)
            self._submit(session)
            status, error = self._advance_all(session)
            session.send_drain()  # whatever is left, then the summary, computed while the last batch is stored
            session.send(summarize=cluster_pb2.SummarizeRequest(slo=convert.slo_msg(self.spec.slo), status=status))
            self.sink(*session.records(), final=True)
            reply = session.reply().summary
            return Outcome(status, json.loads(reply.summary_json), error, convert.figures(reply.components), attempt)
        finally:
            session.close()

    def _submit(self, session: ClusterSession) -> None:
        """Every chunk sent before any reply is read: the replica reads one while the next is built."""
        sent = 0
        for chunk in submit_chunks(self.requests):
            session.send(submit=cluster_pb2.SubmitRequest(columns=columns.trace_columns(chunk)))
            sent += 1
        for _ in range(sent):
            session.reply()

    def _advance_all(self, session: ClusterSession) -> tuple[str, str]:
        """The loop of `twin.replay.replay`, a few slices per Advance, each Advance followed by a Drain.

        Once an Advance's progress is in, the next Advance and Drain go out before its records
        are read and stored, so the replica simulates while the controller stores; it never
        runs ahead by more than that one Advance, and stops as it did."""
        slice_s, slices, status, error = slice_seconds(self.requests), Slices(), "complete", ""
        progress = cluster_pb2.Progress(now_s=0.0, finished=0, submitted=len(self.requests))
        sent_at = time.monotonic()
        running = self._next_slices(session, progress, slice_s, slices.next())
        while running:
            progress = session.reply().progress
            took, sent_at = time.monotonic() - sent_at, time.monotonic()
            if progress.error:
                status, error = "failed", progress.error
            self.progress(progress.finished, progress.submitted, progress.now_s)
            running = not error and self._next_slices(session, progress, slice_s, slices.next(took))
            self.sink(*session.records())  # the drain sent with this Advance
        if not error and progress.finished < progress.submitted:  # stopped before the end
            status = self.stop_reason() or status
        return status, error

    def _next_slices(self, session: ClusterSession, progress: cluster_pb2.Progress, slice_s: float,
                     count: int) -> bool:
        """Ask for `count` more slices and their records, unless every request finished or the
        run was asked to stop."""
        if progress.finished >= progress.submitted or self.stop_reason():
            return False
        until = progress.now_s
        for _ in range(count):  # the additions the replica makes, so the last step ends on `until`
            until += slice_s
        session.send(advance=cluster_pb2.AdvanceRequest(until_s=until, step_s=slice_s))
        session.send_drain()
        return True


def _details(exc: Exception) -> str:
    return exc.details() if isinstance(exc, grpc.RpcError) else str(exc)
