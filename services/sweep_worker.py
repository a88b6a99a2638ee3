"""Sweep points, each run in a worker process of its own: a replay, or a bisection for the highest
SLO-meeting rate.

`run_points` forks one process per point, at most `jobs` at once; the parent stores what a worker
sends back (the point's records, series, summary and components) as the point's child run. A worker
that raises sends its one-line error instead; a worker that dies (killed, out of memory) fails its
point with the signal or exit code, and the other points go on. Nothing waits on a worker that
cannot answer: the parent watches each worker's pipe and its process sentinel together.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Callable, Sequence

from twin import capacity
from twin.explore.search import at_rate, search_goodput
from twin.replay import RunSpec, replay
from twin.serving.request import TraceRequest
from twin.sim import component_figures


def _replay(spec: RunSpec, requests: list[TraceRequest]) -> dict:
    sim = spec.build()
    records, series = [], []
    result = replay(sim, requests, spec.slo, sink=lambda r, s: (records.extend(r), series.extend(s)))
    components = component_figures(sim)
    result.summary["load"] = capacity.of_simulation(sim, requests)  # as twin replay and the controller report it
    return {"status": result.status, "error": result.error, "summary": result.summary, "records": records,
            "series": series, "components": components, "spec": spec.to_dict()}


def failed_point(spec_dict: dict, error: str) -> dict:
    """What a point that could not run returns: no records, no summary, the reason."""
    return {"status": "failed", "error": error, "summary": None, "records": [], "series": [],
            "components": None, "spec": spec_dict}


def _worker(conn: Connection, task: tuple) -> None:
    # Ctrl-C reaches the whole process group: only the parent decides; SIGTERM (the parent stopping us) ends us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        out = run_point(*task)
    except Exception as exc:  # the point fails with the worker's own message; the sweep goes on
        from services.common.messages import one_line
        out = failed_point(task[0], f"{type(exc).__name__}: {one_line(exc)}")
    try:
        conn.send(out)
    except Exception as exc:  # a result that cannot be pickled is still an answer
        conn.send(failed_point(task[0], f"the worker could not send its result: {exc}"))
    conn.close()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"the worker process died (killed by {signal.Signals(-exitcode).name})"
    return f"the worker process exited with code {exitcode} before sending its result"


def run_points(tasks: Sequence[tuple], jobs: int, on_result: Callable[[int, dict], None],
               stopping: Callable[[], bool], on_start: Callable[[int, int], None] = lambda i, pid: None) -> None:
    """Run `tasks` (run_point's arguments, the spec's dict first) in forked workers, at most `jobs` at once,
    calling on_result(index, result) in the parent as each ends, until all end or `stopping()` says stop;
    workers still running then are terminated (their points are not reported)."""
    ctx = multiprocessing.get_context("fork")
    waiting = deque(range(len(tasks)))
    running: dict[object, tuple[int, object, Connection]] = {}  # a worker's sentinel -> (index, process, pipe)
    try:
        while (waiting or running) and not stopping():
            while waiting and len(running) < jobs:
                index = waiting.popleft()
                ours, theirs = ctx.Pipe(duplex=False)
                process = ctx.Process(target=_worker, args=(theirs, tasks[index]), daemon=True)
                process.start()
                theirs.close()
                running[process.sentinel] = (index, process, ours)
                on_start(index, process.pid)
            ready = set(wait([*running, *(conn for _, _, conn in running.values())], timeout=0.25))
            for sentinel, (index, process, conn) in list(running.items()):
                if conn not in ready and sentinel not in ready:
                    continue
                out = _receive(conn)
                if out is None and sentinel not in ready:
                    continue  # the pipe closed early: the process is ending, its sentinel will say how
                process.join()
                conn.close()
                del running[sentinel]
                on_result(index, out if out is not None else failed_point(tasks[index][0], _death(process.exitcode)))
    finally:
        for _, process, conn in running.values():
            process.terminate()
            process.join()
            conn.close()


def _receive(conn: Connection) -> dict | None:
    """The worker's result if it sent one (read whole: the worker may block until it is), else None."""
    try:
        return conn.recv() if conn.poll() else None
    except (EOFError, OSError):
        return None


def run_point(spec_dict: dict, requests: list[TraceRequest], find_rate: bool, target: float) -> dict:
    spec = RunSpec.from_dict(spec_dict)
    if not find_rate:
        return _replay(spec, requests)

    def run(rate: float) -> tuple[dict, dict]:
        out = _replay(spec, at_rate(requests, rate))
        return out, out["summary"]

    search, best = search_goodput(run, requests, target)
    best["rate"] = search.rate
    best["summary"]["rate_search"] = {"goodput_rps": search.rate, "target": target,
                                      "evaluations": [{"rate_rps": r, "attained": a} for r, a in search.evaluations]}
    return best
