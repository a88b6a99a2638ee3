"""Sweep throughput: points per minute of `twin sweep` with --jobs 1 and --jobs 2 (prints, asserts nothing).

    python bench/bench_sweep.py [--requests 500] [--repeat 3]

Eight points (two servers x two MAC-tree counts x two batch caps) of the first N requests of
azure-conv-2023 on Llama-2-7B, stored in a fresh SQLite file each time; the median of the repeats.
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


def one(requests: int, jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-P", "-m", "services.cli", "--db", f"sqlite:///{Path(tmp) / 'b.db'}", "sweep",
               "azure-conv-2023", "--model", "llama2-7b", "--limit", str(requests), "--jobs", str(jobs), "--json",
               *AXES]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    points = 8
    for jobs in (1, 2):
        walls = [one(args.requests, jobs) for _ in range(args.repeat)]
        med = statistics.median(walls)
        print(f"jobs={jobs}: {points} points x {args.requests} requests in {med:.1f} s median "
              f"(min {min(walls):.1f}, max {max(walls):.1f}): {points / med * 60:.1f} points/min")


if __name__ == "__main__":
    main()
