"""The README's main command end to end, as a user runs it, and where its time goes.

    twin replay azure-conv-2023 --server lpu-8x-4nm --model llama2-7b   (default SQLite file)

Each run is a fresh process in a fresh temporary folder. Prints, as the median and min-max
over the runs: wall seconds and CPU seconds of the whole command with the default SQLite
file and with an in-memory database (their ratio is the store's cost), peak RSS, and the
start-up time (importing the CLI and what `replay` needs). Run on demand:

    python bench/bench_cli.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from figures import run_child, spread

COMMAND = ["replay", "azure-conv-2023", "--server", "lpu-8x-4nm", "--model", "llama2-7b", "--no-progress"]
IMPORTS = "import services.cli, services.replay_cmd"


def timed(argv: list[str], cwd: str) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of one child process."""
    return run_child(argv, cwd)[:3]


def twin(db: str | None) -> list[str]:
    return [sys.executable, "-m", "services.cli", *(["--db", db] if db else []), *COMMAND]


def main(runs: int) -> None:
    results: dict[str, list[tuple[float, float, float]]] = {"file": [], "memory": [], "startup": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            results["file"].append(timed(twin(None), tmp))
            results["memory"].append(timed(twin("sqlite:///:memory:"), tmp))
            results["startup"].append(timed([sys.executable, "-c", IMPORTS], tmp))
    for name, rows in results.items():
        walls, cpus, rss = zip(*rows)
        print(f"{name:>8}: wall {spread(walls)} s, CPU {spread(cpus)} s, peak RSS {spread(rss, '{:.0f}')} MiB "
              f"({len(rows)} runs)", flush=True)
    ratio = [f[0] / m[0] for f, m in zip(results["file"], results["memory"])]
    print(f"file / :memory: wall ratio {spread(ratio)}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs (a shared machine inflates wall time)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    main(ap.parse_args().runs)
