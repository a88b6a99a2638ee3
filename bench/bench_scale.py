"""Scale benchmark: 10 k / 100 k / 1 M synthetic requests at about 70 % load, step fidelity.

Each run is a fresh process (so peak RSS and start-up belong to that run alone) replaying
``synthetic:poisson?rate=1.2&n=N&input=128..2048&output=64..512`` on lpu-8x-4nm with
Llama-2-7B (tp 8). A saturated run of this mix serves about 1.74 requests/s, so 1.2
requests/s is about 70 % load. Prints, per size, the median and min-max over the runs of:
wall seconds, simulated output tokens per wall second, peak RSS (MiB) and start-up
seconds (process start until the first request can be submitted: imports, catalogue,
twin built). The core's CPU seconds are printed too: a machine shared with other work
inflates wall time more than CPU time.

With --stored, each run is instead the `twin replay` command a user runs, every record stored in
a fresh SQLite file (the store writer process on the other core): wall seconds, CPU of the main
process and of the writer, peak RSS of each, and the records stored. Run on demand:

    python bench/bench_scale.py [--sizes 10000,100000,1000000] [--runs 5] [--runs-1m 1] [--stored]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from figures import core_build, cpu_s, run_child, spread

SOURCE = "synthetic:poisson?rate=1.2&n={n}&input=128..2048&output=64..512&seed=1"


def child(n: int, t0: float) -> None:
    """One run, in this process; prints a JSON line of its figures."""
    import resource

    from twin.replay import RunSpec, replay

    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=8).build()
    requests = _requests(n)
    ready, cpu0 = time.time(), cpu_s()
    result = replay(sim, requests, sink=lambda records, samples: None)  # a sink takes the records away
    end = time.time()
    s = result.summary
    print(json.dumps({"startup_s": ready - t0, "core_s": end - ready, "wall_s": end - t0, "cpu_s": cpu_s() - cpu0,
                      "tokens": s["throughput"]["output_tokens"], "done": s["requests"]["done"],
                      "status": result.status, "core": core_build(),
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _requests(n: int):
    """The trace, streamed where this version of the twin can (no clamping: 2048 + 512 < 4096)."""
    try:
        from twin.traces import iter_synthetic, parse_synthetic
    except ImportError:  # before streaming: the list
        from twin.traces import TraceOptions, load_trace
        return load_trace(SOURCE.format(n=n), TraceOptions(max_context=4096)).requests
    return iter_synthetic(parse_synthetic(SOURCE.format(n=n)))


def one_run(n: int) -> dict:
    t0 = time.time()
    out = subprocess.run([sys.executable, __file__, "--child", str(n), "--t0", repr(t0)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# `twin replay` as run from a shell, writing at exit its own CPU and peak RSS and its children's (the writer).
STORED = """
import atexit, json, resource, runpy, sys
def split(path=sys.argv.pop(1)):
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    open(path, "w").write(json.dumps({"main_cpu_s": me.ru_utime + me.ru_stime, "main_rss_mib": me.ru_maxrss / 1024,
                                      "writer_cpu_s": kids.ru_utime + kids.ru_stime,
                                      "writer_rss_mib": kids.ru_maxrss / 1024}))
atexit.register(split)
runpy.run_module("services.cli", run_name="__main__", alter_sys=True)
"""


def stored_run(n: int) -> dict:
    """One `twin replay SOURCE --server lpu-8x-4nm --model llama2-7b` into a fresh SQLite file."""
    import sqlite3
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        split = f"{tmp}/split.json"
        argv = [sys.executable, "-c", STORED, split, "--db", f"sqlite:///{tmp}/twin.db", "replay", SOURCE.format(n=n),
                "--server", "lpu-8x-4nm", "--model", "llama2-7b", "--tp", "8", "--no-progress", "--json"]
        wall, cpu, rss, out = run_child(argv, tmp)
        with open(split) as f:
            figures = json.load(f)
        with sqlite3.connect(f"{tmp}/twin.db") as db:
            stored = db.execute("SELECT count(*) FROM request_records").fetchone()[0]
    status = json.loads(out)["status"]
    return {"wall_s": wall, "cpu_s": cpu, "rss_mib": rss, "stored": stored, "status": status, **figures}


def report_stored(n: int, runs: list[dict]) -> None:
    def fig(key, fmt="{:.2f}"):
        return spread((r[key] for r in runs), fmt)
    print(f"{n:>9,} requests stored, {len(runs)} run(s), status {runs[0]['status']}, {core_build()} core, "
          f"{runs[0]['stored']:,} records in SQLite: wall {fig('wall_s')} s, CPU main {fig('main_cpu_s')} s + "
          f"writer {fig('writer_cpu_s')} s, peak RSS main {fig('main_rss_mib', '{:.0f}')} MiB, writer "
          f"{fig('writer_rss_mib', '{:.0f}')} MiB; load average {os.getloadavg()[0]:.1f}", flush=True)


def report(n: int, runs: list[dict]) -> None:
    def fig(key, fmt, f=lambda r, k: r[k]):
        return spread((f(r, key) for r in runs), fmt)

    tps = lambda r, _k: r["tokens"] / r["core_s"]  # noqa: E731
    print(f"{n:>9,} requests, {len(runs)} run(s), status {runs[0]['status']}, {runs[0]['core']} core, {runs[0]['tokens']:,} output tokens: "
          f"wall {fig('wall_s', '{:.2f}')} s, core {fig('core_s', '{:.2f}')} s ({fig('cpu_s', '{:.2f}')} s CPU), "
          f"{fig('tps', '{:,.0f}', tps)} simulated tokens per wall s (core), "
          f"peak RSS {fig('rss_mib', '{:.0f}')} MiB, start-up {fig('startup_s', '{:.2f}')} s", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--runs-1m", type=int, default=1, help="runs for sizes of 1,000,000 and more")
    ap.add_argument("--stored", action="store_true", help="through `twin replay`, every record stored in SQLite")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--t0", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.t0)
    else:
        for size in (int(x) for x in args.sizes.split(",")):
            runs = args.runs if size < 1_000_000 else args.runs_1m
            if args.stored:
                report_stored(size, [stored_run(size) for _ in range(runs)])
            else:
                report(size, [one_run(size) for _ in range(runs)])
