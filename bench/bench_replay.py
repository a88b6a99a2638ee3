"""Replay the whole azure-conv-2023 trace on the 8-chip LPU ASIC server with Llama-2-7B.

Prints wall seconds (and the CPU seconds of the process, which a loaded machine inflates
less), simulated output tokens per wall second, peak memory and start-up time (process start
until the trace is read and the twin built) for each fidelity.
Run on demand:  python bench/bench_replay.py [--fidelity step|layer|both] [--limit N]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from twin.replay import RunSpec, replay
from twin.config import ServingConfig
from twin.traces import TraceOptions, load_trace


def run(fidelity: str, limit: int | None) -> None:
    reqs = load_trace("azure-conv-2023", TraceOptions(max_context=4096, limit=limit)).requests
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=8, serving=ServingConfig(fidelity=fidelity)).build()
    startup, start, cpu0 = _process_age_s(), time.perf_counter(), _cpu_s()
    result = replay(sim, reqs)
    wall, cpu = time.perf_counter() - start, _cpu_s() - cpu0
    s = result.summary
    tokens = s["throughput"]["output_tokens"]
    print(f"{fidelity:>5}: {len(reqs):,} requests, {tokens:,} output tokens, {s['hardware']['steps']:,} steps, "
          f"{s['makespan_s']:,.0f} s simulated in {wall:.2f} s wall ({cpu:.2f} s CPU) -> {tokens / wall:,.0f} "
          f"simulated tokens/s, peak memory (max RSS of the process) {_rss_mib():.0f} MiB, "
          f"start-up {startup:.2f} s, status {result.status}", flush=True)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


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
    ap.add_argument("--limit", type=int, default=None, help="replay only the first N requests")
    args = ap.parse_args()
    for fid in ("step", "layer") if args.fidelity == "both" else (args.fidelity,):
        run(fid, args.limit)
