"""Sweep throughput: points per minute of `twin sweep` with --jobs 1 and --jobs 2 (prints, asserts nothing).

    python bench/bench_sweep.py [--requests 500] [--repeat 3] [--wide] [--store-records]

Eight points (two servers x two MAC-tree counts x two batch caps; --wide: 32, with four of each) of
the first N requests of azure-conv-2023 on Llama-2-7B, stored in a fresh SQLite file each time (each
point's summary and series; its request records too with --store-records); the median of the repeats.
The figure includes the command's start-up (imports, the trace, the store), which eight points share.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AXES = ["--set", "server=lpu-8x-4nm,lpu-systolic-8x-4nm", "--set", "chip.mac_trees=32,64",
        "--set", "max_batch=64,256"]
WIDE = ["--set", "server=lpu-8x-4nm,lpu-systolic-8x-4nm", "--set", "chip.mac_trees=16,32,64,128",
        "--set", "max_batch=32,64,128,256"]


def one(requests: int, jobs: int, axes: list[str], extra: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-P", "-m", "services.cli", "--db", f"sqlite:///{Path(tmp) / 'b.db'}", "sweep",
               "azure-conv-2023", "--model", "llama2-7b", "--limit", str(requests), "--jobs", str(jobs), "--json",
               *axes, *extra]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--wide", action="store_true", help="32 points instead of 8")
    ap.add_argument("--store-records", action="store_true", help="store every point's request records too")
    args = ap.parse_args()
    points, axes = (32, WIDE) if args.wide else (8, AXES)
    extra = ["--store-records"] if args.store_records else []
    import os
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for jobs in (1, 2):
        walls = [one(args.requests, jobs, axes, extra) for _ in range(args.repeat)]
        med = statistics.median(walls)
        print(f"jobs={jobs}: {points} points x {args.requests} requests in {med:.1f} s median "
              f"(min {min(walls):.1f}, max {max(walls):.1f}): {points / med * 60:.1f} points/min")


if __name__ == "__main__":
    main()
