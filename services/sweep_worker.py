"""Sweep points run in warm worker processes: a replay, or a bisection for the highest SLO-meeting rate.

`run_points` forks at most `jobs` workers, each of which runs point after point: imports, the trace's
requests and the core's caches are paid once per worker, not once per point. The parent hands an idle
worker the next point's index, and stores what it sends back (the point's summary, series and
components, and its records when asked) as the point's child run. A worker that raises sends its
one-line error instead and takes the next point; a worker that dies (killed, out of memory) fails the
point it was running with the signal or exit code, a fresh worker takes its place, and the other points
go on. Nothing waits on a worker that cannot answer: the parent watches each busy worker's pipe and its
process sentinel together.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Callable, Sequence

from twin import capacity
from twin.explore.search import at_rate, search_goodput
from twin.replay import RunSpec, replay
from twin.serving.request import TraceRequest
from twin.sim import component_figures

JOIN_S = 5.0  # an idle worker ends at once on end-of-file; one that does not is killed after this


def _replay(spec: RunSpec, requests: list[TraceRequest], keep_records: bool = True) -> dict:
    sim = spec.build()
    records: list = []
    series: list = []

    def sink(batch_records: list, batch_series: list) -> None:
        if keep_records:
            records.extend(batch_records)
        series.extend(batch_series)

    result = replay(sim, requests, spec.slo, sink=sink)
    components = component_figures(sim)
    result.summary["load"] = capacity.of_simulation(sim, requests)  # as twin replay and the controller report it
    return {"status": result.status, "error": result.error, "summary": result.summary, "records": records,
            "series": series, "components": components, "spec": spec.to_dict()}


def failed_point(spec_dict: dict, error: str) -> dict:
    """What a point that could not run returns: no records, no summary, the reason."""
    return {"status": "failed", "error": error, "summary": None, "records": [], "series": [],
            "components": None, "spec": spec_dict}


def _worker(tasks: Sequence[tuple], orders: Connection, results: Connection, inherited: list[Connection]) -> None:
    """A warm worker: runs the point whose index it is sent, sends its result, waits for the next; it ends
    when the parent closes its end of `orders`."""
    # Ctrl-C reaches the whole process group: only the parent decides; SIGTERM (the parent stopping us) ends us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for end in inherited:  # the parent's ends of the other workers' pipes: else they would see no end-of-file
        end.close()
    while True:
        try:
            index = orders.recv()
        except (EOFError, OSError):
            return
        try:
            results.send(_result_of(tasks[index]))
        except Exception as exc:  # a result that cannot be pickled is still an answer (nothing was written)
            results.send(failed_point(tasks[index][0], f"the worker could not send its result: {exc}"))


def _result_of(task: tuple) -> dict:
    """The point's result, or its failure as one line (the sweep goes on)."""
    try:
        return run_point(*task)
    except Exception as exc:
        from services.common.messages import one_line
        return failed_point(task[0], f"{type(exc).__name__}: {one_line(exc)}")


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"the worker process died (killed by {signal.Signals(-exitcode).name})"
    return f"the worker process exited with code {exitcode} before sending its result"


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    orders: Connection  # the parent's sending end
    results: Connection  # the parent's receiving end
    index: int | None = None  # the point it is running, None when idle


def _start_worker(ctx, tasks: Sequence[tuple], others: list[_Worker]) -> _Worker:
    orders_in, orders = ctx.Pipe(duplex=False)
    results, results_out = ctx.Pipe(duplex=False)
    inherited = [orders, results, *(end for w in others for end in (w.orders, w.results))]
    process = ctx.Process(target=_worker, args=(tasks, orders_in, results_out, inherited), daemon=True)
    process.start()
    orders_in.close()  # the worker's ends: only it holds them now, so each side sees end-of-file
    results_out.close()
    return _Worker(process, orders, results)


def run_points(tasks: Sequence[tuple], jobs: int, on_result: Callable[[int, dict], None],
               stopping: Callable[[], bool], on_start: Callable[[int, int], None] = lambda i, pid: None) -> None:
    """Run `tasks` (run_point's arguments, the spec's dict first) in at most `jobs` warm forked workers,
    calling on_result(index, result) in the parent as each ends, until all end or `stopping()` says stop;
    workers still running a point then are terminated (their points are not reported)."""
    ctx = multiprocessing.get_context("fork")
    waiting = deque(range(len(tasks)))
    workers: list[_Worker] = []
    try:
        while (waiting or any(w.index is not None for w in workers)) and not stopping():
            _hand_out(ctx, tasks, jobs, waiting, workers, on_start)
            busy = [w for w in workers if w.index is not None]
            ready = set(wait([x for w in busy for x in (w.process.sentinel, w.results)], timeout=0.25))
            for worker in busy:
                if worker.results in ready or worker.process.sentinel in ready:
                    _collect(worker, workers, tasks, on_result, worker.process.sentinel in ready)
    finally:
        _stop(workers)


def _hand_out(ctx, tasks, jobs: int, waiting: deque, workers: list[_Worker], on_start) -> None:
    """Give idle workers (started as needed, up to `jobs`) the next points."""
    while waiting:
        for gone in [w for w in workers if w.index is None and not w.process.is_alive()]:
            _drop(gone, workers)  # died while idle (killed between points): no point was lost
        idle = next((w for w in workers if w.index is None), None)
        if idle is None:
            if len(workers) >= jobs:
                return
            idle = _start_worker(ctx, tasks, workers)
            workers.append(idle)
        index = waiting.popleft()
        try:
            idle.orders.send(index)
        except OSError:  # it died idle just now: the point goes to another worker
            waiting.appendleft(index)
            _drop(idle, workers)
            continue
        idle.index = index
        on_start(index, idle.process.pid)


def _collect(worker: _Worker, workers: list[_Worker], tasks, on_result, ended: bool) -> None:
    """The busy worker's result; a worker that ended without one fails its point and is replaced later."""
    index = worker.index
    assert index is not None
    out = _receive(worker.results)
    if out is None and not ended:
        return  # the pipe closed early: the process is ending, its sentinel will say how
    if out is None:
        _drop(worker, workers)
        out = failed_point(tasks[index][0], _death(worker.process.exitcode))
    worker.index = None
    on_result(index, out)


def _stop(workers: list[_Worker]) -> None:
    """Idle workers end at end-of-file on their orders; busy ones are terminated."""
    for worker in workers:
        worker.orders.close()
        if worker.index is not None:
            worker.process.terminate()
    for worker in workers:
        worker.process.join(JOIN_S)
        if worker.process.is_alive():  # an idle worker that did not end: it has nothing to lose
            worker.process.kill()
            worker.process.join()
        worker.results.close()


def _drop(worker: _Worker, workers: list[_Worker]) -> None:
    """Forget a worker that has ended (a fresh one is started when a point needs it)."""
    worker.process.join()
    worker.orders.close()
    worker.results.close()
    workers.remove(worker)


def _receive(conn: Connection) -> dict | None:
    """The worker's result if it sent one (read whole: the worker may block until it is), else None."""
    try:
        return conn.recv() if conn.poll() else None
    except (EOFError, OSError):
        return None


def run_point(spec_dict: dict, requests: list[TraceRequest], find_rate: bool, target: float,
              keep_records: bool = True) -> dict:
    """One point: its replay's result (records only with `keep_records`), or with `find_rate` the
    goodput bisection's best run."""
    spec = RunSpec.from_dict(spec_dict)
    if not find_rate:
        return _replay(spec, requests, keep_records)

    def run(rate: float) -> tuple[dict, dict]:
        out = _replay(spec, at_rate(requests, rate), keep_records)
        return out, out["summary"]

    search, best = search_goodput(run, requests, target)
    best["rate"] = search.rate
    best["summary"]["rate_search"] = {"goodput_rps": search.rate, "target": target,
                                      "evaluations": [{"rate_rps": r, "attained": a} for r, a in search.evaluations]}
    return best
