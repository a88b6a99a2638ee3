"""A replay driven on a cluster replica over gRPC, stored exactly as the embedded replay stores it.

The controller opens a Session (one stream, hence one replica), creates the twin,
submits the trace in chunks, then advances in the slices `twin.replay.replay` uses,
draining the records after each slice into the store. Same twin, same steps: the same
records and the same summary as an embedded run.

If the replica goes away mid-run, the replay starts again on another replica (the load
balancer picks one). The simulation is deterministic, so the records already stored
are recognised by position and skipped, never stored twice.
"""

from __future__ import annotations

import json
import logging
import queue
from dataclasses import dataclass
from typing import Callable, Iterator

import grpc

from services.common import convert
from twin.metrics import RequestRecord, SeriesSample
from twin.replay import Progress, RunSpec, slice_seconds
from twin.serving.request import TraceRequest
from twin_api.v1 import cluster_pb2, cluster_pb2_grpc

log = logging.getLogger(__name__)

SUBMIT_CHUNK = 2000  # requests per Submit message (about 60 kB)
# A replica that died or shut down; the run can go on elsewhere.
FAILOVER_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.ABORTED,
                  grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
_END = object()


class ClusterLost(Exception):
    """The replica ended the session without answering."""


class ClusterSession:
    """One Session stream: send a command, read its replies in order."""

    def __init__(self, stub: cluster_pb2_grpc.ClusterTwinStub, timeout_s: float):
        self._commands: queue.Queue = queue.Queue()
        self._replies = stub.Session(iter(self._commands.get, _END), timeout=timeout_s)

    def ask(self, **command) -> cluster_pb2.SessionReply:
        self._commands.put(cluster_pb2.SessionRequest(**command))
        try:
            return next(self._replies)
        except StopIteration:
            raise ClusterLost("the cluster replica ended the session") from None

    def drain(self) -> Iterator[cluster_pb2.RecordBatch]:
        batch = self.ask(drain=cluster_pb2.DrainRequest()).records
        yield batch
        while not batch.last:
            batch = next(self._replies).records
            yield batch

    def close(self) -> None:
        self._commands.put(_END)
        self._replies.cancel()


@dataclass
class StoreSink:
    """Appends drained records to a run, skipping those an earlier attempt already stored."""

    append: Callable[[list[RequestRecord], list[SeriesSample]], None]
    stored: tuple[int, int] = (0, 0)  # requests, samples appended so far
    seen: tuple[int, int] = (0, 0)  # requests, samples drained in this attempt

    def restart(self) -> None:
        self.seen = (0, 0)

    def __call__(self, requests: list[RequestRecord], series: list[SeriesSample]) -> None:
        (r_seen, s_seen), (r_stored, s_stored) = self.seen, self.stored
        self.seen = (r_seen + len(requests), s_seen + len(series))
        new_r, new_s = requests[max(0, r_stored - r_seen):], series[max(0, s_stored - s_seen):]
        self.append(new_r, new_s)
        self.stored = (r_stored + len(new_r), s_stored + len(new_s))


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
            for at in range(0, len(self.requests), SUBMIT_CHUNK):
                chunk = [convert.trace_request_msg(r) for r in self.requests[at:at + SUBMIT_CHUNK]]
                session.ask(submit=cluster_pb2.SubmitRequest(requests=chunk))
            status, error = self._advance_all(session)
            reply = session.ask(summarize=cluster_pb2.SummarizeRequest(slo=convert.slo_msg(self.spec.slo),
                                                                       status=status)).summary
            return Outcome(status, json.loads(reply.summary_json), error, convert.figures(reply.components), attempt)
        finally:
            session.close()

    def _advance_all(self, session: ClusterSession) -> tuple[str, str]:
        """The loop of `twin.replay.replay`, one slice per Advance, a checkpoint after each."""
        slice_s, status, error = slice_seconds(self.requests), "complete", ""
        progress = cluster_pb2.Progress(now_s=0.0, finished=0, submitted=len(self.requests))
        while progress.finished < progress.submitted:
            if self.stop_reason():
                status = self.stop_reason()
                break
            progress = session.ask(advance=cluster_pb2.AdvanceRequest(until_s=progress.now_s + slice_s)).progress
            if progress.error:
                status, error = "failed", progress.error
                break
            self._checkpoint(session, progress)
        self._checkpoint(session, progress)
        return status, error

    def _checkpoint(self, session: ClusterSession, progress: cluster_pb2.Progress) -> None:
        requests, series = [], []
        for batch in session.drain():
            requests.extend(convert.record(r) for r in batch.requests)
            series.extend(convert.sample(s) for s in batch.samples)
        self.sink(requests, series)
        self.progress(progress.finished, progress.submitted, progress.now_s)


def _details(exc: Exception) -> str:
    return exc.details() if isinstance(exc, grpc.RpcError) else str(exc)
