"""Replay the whole azure-conv-2023 trace on the 8-chip LPU ASIC server with Llama-2-7B.

Prints wall seconds, simulated output tokens per wall second and peak memory for each
fidelity. Run on demand:  python bench/bench_replay.py [--fidelity step|layer|both] [--limit N]
"""

from __future__ import annotations

import argparse
import resource
import time

from twin.replay import RunSpec, replay
from twin.config import ServingConfig
from twin.traces import TraceOptions, load_trace


def run(fidelity: str, limit: int | None) -> None:
    reqs = load_trace("azure-conv-2023", TraceOptions(max_context=4096, limit=limit)).requests
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=8, serving=ServingConfig(fidelity=fidelity)).build()
    start = time.perf_counter()
    result = replay(sim, reqs)
    wall = time.perf_counter() - start
    s = result.summary
    tokens = s["throughput"]["output_tokens"]
    print(f"{fidelity:>5}: {len(reqs):,} requests, {tokens:,} output tokens, {s['hardware']['steps']:,} steps, "
          f"{s['makespan_s']:,.0f} s simulated in {wall:.2f} s wall -> {tokens / wall:,.0f} simulated tokens/s, "
          f"peak memory (max RSS of the process) {_rss_mib():.0f} MiB, status {result.status}")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fidelity", choices=["step", "layer", "both"], default="both")
    ap.add_argument("--limit", type=int, default=None, help="replay only the first N requests")
    args = ap.parse_args()
    for fid in ("step", "layer") if args.fidelity == "both" else (args.fidelity,):
        run(fid, args.limit)
