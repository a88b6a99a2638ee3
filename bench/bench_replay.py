"""Replay the whole azure-conv-2023 trace on the 8-chip LPU ASIC server with Llama-2-7B.

Each run is a fresh process. Prints, per fidelity, the median and min-max over the runs of:
wall seconds of the replay (and the process's CPU seconds over it, which a loaded machine
inflates less), simulated output tokens per wall second, peak memory (max RSS of the process)
and start-up time (process start until the trace is read and the twin built).
Run on demand:  python bench/bench_replay.py [--fidelity step|layer|both] [--runs 5] [--limit N]
                                            [--against DIR]

With --against DIR (another checkout, e.g. `git worktree add /tmp/old REV`) the runs alternate
between that tree (put first on PYTHONPATH) and this one, and the ratio of the medians is
printed: a machine whose speed drifts over minutes then affects both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from figures import core_build, cpu_s, spread


def child(fidelity: str, limit: int | None) -> None:
    """One replay in this process; prints a JSON line of its figures."""
    from twin.config import ServingConfig
    from twin.replay import RunSpec, replay
    from twin.traces import TraceOptions, load_trace

    reqs = load_trace("azure-conv-2023", TraceOptions(max_context=4096, limit=limit)).requests
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=8, serving=ServingConfig(fidelity=fidelity)).build()
    startup, start, cpu0 = _process_age_s(), time.perf_counter(), cpu_s()
    result = replay(sim, reqs)
    wall, cpu = time.perf_counter() - start, cpu_s() - cpu0
    s = result.summary
    print(json.dumps({"requests": len(reqs), "tokens": s["throughput"]["output_tokens"], "steps": s["hardware"]["steps"],
                      "simulated_s": s["makespan_s"], "wall_s": wall, "cpu_s": cpu, "startup_s": startup,
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "status": result.status,
                      "core": core_build()}))


def one_run(fidelity: str, limit: int | None, tree: str | None = None) -> dict:
    argv = [sys.executable, __file__, "--child", fidelity, *(["--limit", str(limit)] if limit else [])]
    env = None if tree is None else {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (os.path.abspath(tree), os.environ.get("PYTHONPATH")) if p)}
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(fidelity: str, runs: list[dict]) -> None:
    r0 = runs[0]
    print(f"{fidelity:>5}: {r0['requests']:,} requests, {r0['tokens']:,} output tokens, {r0['steps']:,} steps, "
          f"{r0['simulated_s']:,.0f} s simulated, status {r0['status']}, {r0['core']} core, {len(runs)} run(s): "
          f"wall {spread(r['wall_s'] for r in runs)} s ({spread(r['cpu_s'] for r in runs)} s CPU), "
          f"{spread((r['tokens'] / r['wall_s'] for r in runs), '{:,.0f}')} simulated tokens per wall s, "
          f"peak RSS {spread((r['rss_mib'] for r in runs), '{:.0f}')} MiB, "
          f"start-up {spread(r['startup_s'] for r in runs)} s; load average {os.getloadavg()[0]:.1f}", flush=True)


def compare(fidelity: str, limit: int | None, runs: int, tree: str) -> None:
    """Runs alternating between `tree` and this checkout; both reports, then the ratio of median CPU."""
    pairs = [(one_run(fidelity, limit, tree), one_run(fidelity, limit)) for _ in range(runs)]
    for label, side in ((tree, 0), ("this checkout", 1)):
        print(f"{label}:")
        report(fidelity, [p[side] for p in pairs])
    ratio = statistics.median(p[0]["cpu_s"] for p in pairs) / statistics.median(p[1]["cpu_s"] for p in pairs)
    print(f"{fidelity:>5}: {tree} / this checkout, median replay CPU: {ratio:.2f}", flush=True)


def _process_age_s() -> float:
    """Seconds since this process started (Linux /proc; 10 ms resolution)."""
    with open("/proc/self/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fidelity", choices=["step", "layer", "both"], default="both")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--limit", type=int, default=None, help="replay only the first N requests")
    ap.add_argument("--against", metavar="DIR", help="alternate runs with the checkout in DIR and compare")
    ap.add_argument("--child", choices=["step", "layer"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.limit)
    else:
        for fid in ("step", "layer") if args.fidelity == "both" else (args.fidelity,):
            if args.against is None:
                report(fid, [one_run(fid, args.limit) for _ in range(args.runs)])
            else:
                compare(fid, args.limit, args.runs, args.against)
