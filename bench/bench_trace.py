"""Trace reading: the streaming reader against the columnar one (pyarrow.csv) on a big Azure-2024-style file.

    python bench/bench_trace.py [--rows 1000000] [--runs 3]

Writes a CSV of --rows requests like Azure's 2024 week (in time order, UTC offsets, fractions of 0-7 digits) in a
temporary folder, then loads it with `twin.traces.load_trace` as a replay does, each run a fresh process:
once with the columnar reader switched off (its size threshold raised past the file) and once as shipped.
Prints wall seconds and peak RSS, median (min-max), and checks the two give the same requests.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from datetime import UTC, datetime

from figures import run_child, spread

LOAD = """
import hashlib, sys
from twin.traces import columnar, load_trace
if sys.argv[2] == "stream":
    columnar.MIN_BYTES = 1 << 62
trace = load_trace(sys.argv[1])
digest = hashlib.sha256(repr([(r.arrival_s, r.input_tokens, r.output_tokens) for r in trace.requests]).encode())
print(len(trace.requests), digest.hexdigest()[:16])
"""


def write(path: str, rows: int) -> None:
    """Rows in time order, as Azure's are, about 3 a second; fractions of 0, 3, 6 or 7 digits."""
    rng, t = random.Random(1), 1715299200.0
    with open(path, "w") as f:
        f.write("TIMESTAMP,ContextTokens,GeneratedTokens\n")
        for _ in range(rows):
            t += rng.expovariate(3.0)
            second, digits = int(t), rng.choice([0, 3, 6, 7])
            fraction = "." + f"{t - second:.9f}"[2:2 + digits] if digits else ""
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S")
            f.write(f"{stamp}{fraction}+00:00,{rng.randint(1, 8000)},{rng.randint(1, 1000)}\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "azure2024.csv")
        write(path, args.rows)
        print(f"{args.rows:,} rows, {os.path.getsize(path) / 2**20:.0f} MiB")
        answers = {}
        for mode in ("stream", "columnar"):
            runs = [run_child([sys.executable, "-c", LOAD, path, mode], tmp) for _ in range(args.runs)]
            answers[mode] = {r[3].strip() for r in runs}
            print(f"{mode:>9}: wall {spread(r[0] for r in runs)} s, CPU {spread(r[1] for r in runs)} s, "
                  f"peak RSS {spread((r[2] for r in runs), '{:.0f}')} MiB ({args.runs} runs)")
        same = answers["stream"] == answers["columnar"] and len(answers["stream"]) == 1
        print(f"same requests: {'yes' if same else 'NO'} ({answers['stream']} / {answers['columnar']}); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
