"""Runs in flight on the controller: started on a thread pool, watched, cancelled, wound down.

A run is created RUNNING in the store before its id is returned, and always ends in one
final status: complete, failed (the cluster was lost for good, or the twin failed),
cancelled, or interrupted (the controller shut down; records so far are kept).
"""

from __future__ import annotations

import dataclasses

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Callable, Iterator

from services.common.messages import one_line
from services.controller.active import ActiveRun, Snapshot
from services.controller.remote import (OUTAGE_BACKOFF_MAX_S, OUTAGE_BACKOFF_S, DatabaseOutage, Outcome,
                                        RemoteReplay, StoreSink)
from services.limits import RunLimits
from services.runner import load_info, stored_policy, trace_info
from services.store import RunRow, Store
from services.store.db import StoreUnavailable
from twin.errors import CapacityExceeded, NotRunning, TwinError
from services.sweep_view import figures, sweep_summary
from twin.explore.search import at_rate, search_goodput
from twin.explore.sweep import Point, sweep_points
from twin.replay import RunSpec
from twin.summary import dig
from twin.traces import LoadedTrace
from twin_api.v1 import cluster_pb2_grpc

log = logging.getLogger(__name__)
SHUTDOWN = "the controller shut down during the run"
NOT_STARTED = "the controller shut down before the run started"


class JobStopped(Exception):
    """A run computed in the controller was asked to stop (cancelled, or the controller shuts down)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    max_active_runs: int = 8  # replays driven at once; more wait in a queue
    max_queued_runs: int = 512  # runs waiting or active; beyond, RESOURCE_EXHAUSTED
    attempts: int = 3  # cluster replicas tried per run
    run_timeout_s: float = 3600.0  # deadline of one attempt's session (seconds)
    max_sweep_points: int = 64
    sweep_parallel: int = 4  # points of one sweep in flight at once
    # How long a run rides out a database it cannot reach (seconds): records are held (within the run's
    # share of TWIN_MAX_RECORDS_IN_MEMORY) and retried with backoff; beyond, the run ends interrupted.
    db_outage_s: float = 60.0

    @classmethod
    def from_env(cls) -> Limits:
        """Each field from TWIN_<FIELD> when set, e.g. TWIN_MAX_ACTIVE_RUNS=16."""
        given = {f.name: f.type for f in fields(cls) if os.environ.get(f"TWIN_{f.name.upper()}")}
        return cls(**{name: (float if kind == "float" else int)(os.environ[f"TWIN_{name.upper()}"])
                      for name, kind in given.items()})


class RunManager:
    def __init__(self, store: Store, cluster: cluster_pb2_grpc.ClusterTwinStub, limits: Limits = Limits(),
                 run_limits: RunLimits | None = None):
        self.store, self.cluster, self.limits = store, cluster, limits
        self.run_limits = run_limits or RunLimits()
        self._executor = ThreadPoolExecutor(limits.max_active_runs, thread_name_prefix="run")
        self._active: dict[str, ActiveRun] = {}
        self._lock = threading.Lock()
        self._closing = False

    # ---- starting -----------------------------------------------------------------
    def start_replay(self, spec: RunSpec, trace: LoadedTrace) -> str:
        active = self._create("replay", trace, spec.to_dict(), stored_policy(spec), len(trace.requests),
                              records=len(trace.requests))
        body = lambda: self._replay(active, spec, trace, lambda: active.stop_reason)  # noqa: E731
        self._executor.submit(self._guarded, active, body)
        return active.run_id

    def start_sweep(self, base: RunSpec, trace: LoadedTrace, axes: list[tuple[str, list[str]]],
                    rate_target: float | None = None) -> str:
        """A sweep run; with `rate_target`, each point's goodput is bisected (every try a child run)."""
        points = sweep_points(base, axes, self.limits.max_sweep_points, check=self.run_limits.check_spec)
        spec = {"base": base.to_dict(), "axes": {field: list(values) for field, values in axes},
                "find_max_rate": rate_target is not None, "target": rate_target}
        active = self._create("sweep", trace, spec, stored_policy(base), len(points))
        self._executor.submit(self._guarded, active, lambda: self._sweep(active, points, trace, rate_target))
        return active.run_id

    def start_job(self, kind: str, name: str, spec: dict, body: Callable[[Callable[[int], None]], dict]) -> str:
        """A run computed here (a calibration's fit, a validation): `body` gets a hook to report progress
        through, which raises JobStopped once the run is asked to stop; what it returns is the summary."""
        active = self._create(kind, name, spec, {}, 0)
        self._executor.submit(self._guarded, active, lambda: self._job(active, body))
        return active.run_id

    def _job(self, active: ActiveRun, body: Callable[[Callable[[int], None]], dict]) -> None:
        def hook(done: int) -> None:
            if active.stop_reason:
                raise JobStopped(active.stop_reason)
            active.update(finished=done)
        done = threading.Event()
        threading.Thread(target=self._keep_leased, args=(active.run_id, done), daemon=True).start()
        try:
            status, summary, error = "complete", body(hook), ""
        except JobStopped as stop:
            status, summary, error = stop.reason, None, "" if stop.reason == "cancelled" else SHUTDOWN
        except TwinError as exc:  # the measurements or the twin refused: the run says why, in one line
            status, summary, error = "failed", None, one_line(exc)
        finally:
            done.set()
        self._patiently(lambda: self.store.finish(active.run_id, status, summary, None, error))
        active.update(status=status, error=error)

    def _keep_leased(self, run_id: str, done: threading.Event) -> None:
        """A run that stores no records while it computes renews its lease itself, so that no process takes
        it for dead (a fit may take longer than the lease)."""
        while not done.wait(self.store.lease_s / 4):
            try:
                self.store.renew(run_id)
            except StoreUnavailable:  # the next renewal retries; the lease allows three misses
                continue
            except NotRunning:  # ended meanwhile
                return

    def _create(self, kind: str, trace: LoadedTrace | str, spec: dict, policy: dict, total: int,
                records: int = 0) -> ActiveRun:
        """A new RUNNING run (of a trace, or named); `records`: request records it holds in memory in flight."""
        with self._lock:
            if self._closing:
                raise NotRunning("the controller is shutting down")
            if len(self._active) >= self.limits.max_queued_runs:
                raise CapacityExceeded(f"{len(self._active)} runs are in flight, the most this controller "
                                       "takes; retry when some have ended")
            self.run_limits.check_in_memory(sum(a.records for a in self._active.values()), records)
            name = trace if isinstance(trace, str) else trace.name
            run_id = self.store.create_run(kind=kind, trace=name, spec=spec, policy=policy)
            active = self._active[run_id] = ActiveRun(run_id, total)
            active.records = records
        return active

    def _guarded(self, active: ActiveRun, body: Callable[[], None]) -> None:
        try:
            body()
        except Exception as exc:  # a thread pool swallows errors: say what happened, keep the run honest
            log.exception("run %s failed in the controller", active.run_id)
            self._fail(active, f"the controller failed during the run: {one_line(exc)}")
        finally:
            with self._lock:
                self._active.pop(active.run_id, None)

    # ---- replays ------------------------------------------------------------------
    def _replay(self, active: ActiveRun, spec: RunSpec, trace: LoadedTrace,
                stop_reason: Callable[[], str | None], parent: str | None = None) -> Outcome:
        sink = StoreSink(lambda r, s, after: self._append(active.run_id, r, s, parent, after),
                         outage_s=self.limits.db_outage_s, cap=active.records)
        replay = RemoteReplay(self.cluster, spec, trace.requests, sink, stop_reason=stop_reason,
                              progress=lambda done, total, now: active.update(finished=done, total=total,
                                                                              simulated_s=now),
                              attempts=self.limits.attempts, timeout_s=self.limits.run_timeout_s)
        try:
            outcome = replay.run(on_attempt=lambda attempt, replica: active.update(attempt=attempt, replica=replica))
        except DatabaseOutage as exc:
            return self._outage(active, sink, exc)
        if outcome.summary is not None:
            outcome.summary["trace"] = trace_info(trace)
            outcome.summary["load"] = load_info(spec, trace)
        if outcome.status == "interrupted" and not outcome.error:
            outcome.error = SHUTDOWN
        self._patiently(lambda: self.store.finish(active.run_id, outcome.status, outcome.summary,
                                                  outcome.components, outcome.error))
        active.update(status=outcome.status, error=outcome.error)
        return outcome

    def _append(self, run_id: str, requests: list, series: list, parent: str | None,
                after: tuple[int, int] | None = None) -> None:
        self.store.append(run_id, requests, series, after)  # renews the run's lease
        if parent is not None:
            try:
                self.store.renew(parent)  # a sweep stores nothing itself until its end: its points keep it alive
            except StoreUnavailable:  # the batch is stored; the next one renews the sweep
                pass

    def _outage(self, active: ActiveRun, sink: StoreSink, exc: DatabaseOutage) -> Outcome:
        """The database stayed away too long: the run ends interrupted with what it stored (and a
        summary of that), marked as soon as the database answers again, within the run's lease (after
        it, any process that opens the store marks it the same way)."""
        error = f"{exc}; the {sink.stored[0]:,} request records stored before are kept"
        log.warning("run %s: %s", active.run_id, error)
        try:
            self._patiently(lambda: self.store.mark_interrupted(active.run_id, error), self.store.lease_s)
        except StoreUnavailable:
            log.warning("run %s: the database is still out of reach; its lease expiry will end it", active.run_id)
        active.update(status="interrupted", error=error)
        return Outcome("interrupted", None, error, {}, 0)

    def _patiently(self, call: Callable[[], object], bound_s: float | None = None) -> None:
        """`call`, retried with backoff while the database is out of reach, for up to `bound_s`
        (default: the db_outage_s limit); then its StoreUnavailable is raised."""
        bound_s = self.limits.db_outage_s if bound_s is None else bound_s
        start = time.monotonic()
        while True:
            try:
                call()
                return
            except StoreUnavailable:
                waited = time.monotonic() - start
                if waited > bound_s:
                    raise
                time.sleep(min(OUTAGE_BACKOFF_S * 2 ** min(waited, 30), OUTAGE_BACKOFF_MAX_S))

    def _fail(self, active: ActiveRun, error: str) -> None:
        """The run ends failed (not interrupted: nobody stopped it), keeping what it stored."""
        try:
            self.store.finish(active.run_id, "failed", None, None, error)
        except Exception:
            log.exception("could not mark run %s failed", active.run_id)
        active.update(status="failed", error=error)

    def _interrupt(self, active: ActiveRun, error: str) -> None:
        try:
            self.store.mark_interrupted(active.run_id, error)
        except Exception:
            log.exception("could not mark run %s interrupted", active.run_id)
        active.update(status="interrupted", error=error)

    # ---- sweeps -------------------------------------------------------------------
    def _sweep(self, parent: ActiveRun, points: list[Point], trace: LoadedTrace, rate_target: float | None) -> None:
        with ThreadPoolExecutor(self.limits.sweep_parallel, thread_name_prefix="sweep") as pool:
            rows = list(pool.map(lambda point: self._sweep_point(parent, point, trace, rate_target), points))
        done = sum(row["status"] in ("complete", "n/a") for row in rows)
        status = parent.stop_reason or ("complete" if done == len(rows) else "failed")
        error = {"complete": "", "cancelled": "", "interrupted": SHUTDOWN}.get(
            status, f"{len(rows) - done} of {len(rows)} points did not complete")
        summary = {"status": status, **sweep_summary(rows, rate_target is not None)}
        self._patiently(lambda: self.store.finish(parent.run_id, status, summary, None, error))
        parent.update(status=status, error=error)

    def _sweep_point(self, parent: ActiveRun, point: Point, trace: LoadedTrace, rate_target: float | None) -> dict:
        row = {"values": point.values, "run_id": None, "status": "failed" if point.applies else "n/a",
               "error": point.error, "goodput_rps": None}  # the local sweep's row shape (services.sweep_cmd)
        if not point.error and parent.stop_reason:
            row.update(status=parent.stop_reason, error="")
        if not point.error and not parent.stop_reason:
            if rate_target is None:
                outcome, run_id = self._child(parent, point.spec, trace)
            else:
                outcome, run_id, rate = self._goodput(parent, point.spec, trace, rate_target)
                row["goodput_rps"] = rate
            row.update(run_id=run_id, status=outcome.status, error=outcome.error, **figures(outcome.summary))
        parent.bump()
        return row

    def _child(self, parent: ActiveRun, spec: RunSpec, trace: LoadedTrace) -> tuple[Outcome, str]:
        active = self._create("replay", trace, spec.to_dict(), stored_policy(spec), len(trace.requests),
                              records=len(trace.requests))
        try:
            outcome = self._replay(active, spec, trace, lambda: active.stop_reason or parent.stop_reason,
                                   parent.run_id)
            return outcome, active.run_id
        finally:
            with self._lock:
                self._active.pop(active.run_id, None)

    def _goodput(self, parent: ActiveRun, spec: RunSpec, trace: LoadedTrace, target: float):
        """The bisection of twin.explore.search with every try a child run on a cluster replica."""
        requests = list(trace.requests)

        def run(rate: float):
            child = outcome, _ = self._child(parent, spec, dataclasses.replace(trace, requests=at_rate(requests, rate)))
            return child, outcome.summary if outcome.status == "complete" else None

        search, (outcome, run_id) = search_goodput(run, requests, target)
        return outcome, run_id, search.rate

    # ---- watching, cancelling, shutting down --------------------------------------
    def watch(self, run_id: str, is_active: Callable[[], bool], poll_s: float = 0.5) -> Iterator[Snapshot]:
        """Progress of a run as it changes, ending with its final status (or when the client leaves)."""
        with self._lock:
            active = self._active.get(run_id)
        if active is None:
            yield row_snapshot(self.store.get_run(run_id))
            return
        version = -1
        while is_active():
            snapshot, newer = active.wait_newer(version, poll_s)
            if newer != version:
                version = newer
                yield snapshot
            if snapshot.status != "running":
                return

    def cancel(self, run_id: str, wait_s: float = 5.0) -> None:
        with self._lock:
            active = self._active.get(run_id)
        if active is None:
            self._cancel_elsewhere(run_id)
            return
        active.stop("cancelled")
        version = -1
        for _ in range(int(wait_s / 0.1)):
            snapshot, version = active.wait_newer(version, 0.1)
            if snapshot.status != "running":
                return

    def _cancel_elsewhere(self, run_id: str) -> None:
        """A run this controller does not drive: cancelled here if nobody does (its lease expired,
        e.g. a controller that died), else the answer says who drives it or how it ended."""
        if self.store.end_orphan(run_id, "cancelled", "cancelled after its lease expired (its owner stopped "
                                                      "storing records); the records it stored are kept"):
            return
        status = self.store.get_run(run_id).status
        if status != "running":
            raise NotRunning(f"run {run_id} is {status}, it has ended: only a running run can be cancelled")
        owner, _ = self.store.driver(run_id)
        raise NotRunning(f"run {run_id} is driven by {owner}, not by this controller: cancel it there")

    def shutdown(self) -> None:
        """Stop every run: those in flight end interrupted with what they stored, queued ones too."""
        with self._lock:
            self._closing = True
            actives = list(self._active.values())
        for active in actives:
            active.stop("interrupted")
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            never_started = list(self._active.values())
        for active in never_started:
            self._interrupt(active, NOT_STARTED)


def row_snapshot(row: RunRow) -> Snapshot:
    summary = row.summary or {}
    total = dig(summary, "requests", "submitted") or len(summary.get("points", [])) or row.requests_recorded
    simulated = dig(summary, "twin", "simulated_s") or 0.0
    finished = row.requests_recorded if row.kind == "replay" else summary.get("complete", 0)
    return Snapshot(row.id, row.status, finished, total, simulated, row.error)
