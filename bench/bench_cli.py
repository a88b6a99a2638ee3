"""The README's main command end to end, as a user runs it, and where its time goes.

    twin replay azure-conv-2023 --server lpu-8x-4nm --model llama2-7b   (default SQLite file)

Each run is a fresh process in a fresh temporary folder. Prints, as the median and min-max
over the runs: wall seconds and CPU seconds of the whole command with the default SQLite
file and with an in-memory database (their ratio is the store's cost), peak RSS, the same
command in a terminal (a pseudo-terminal on its standard error, so it draws its progress bar),
and the start-up time (importing the CLI and what `replay` needs). The CPU is split into the main
process's own and its store writer's (services/store/writer.py, on the other core): on an idle
2-core machine the main process's CPU is the wall time's floor, and it is the figure a shared,
busy machine disturbs least. Run on demand:

    python bench/bench_cli.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import pty
import sys
import tempfile
import threading

from figures import run_child, spread

COMMAND = ["replay", "azure-conv-2023", "--server", "lpu-8x-4nm", "--model", "llama2-7b", "--no-progress"]
IMPORTS = "import services.cli, services.replay_cmd"


# The CLI as `python -m services.cli` runs it, writing at exit its own CPU and that of the children
# it waited for (the store writer) to the file named by its first argument.
SPLIT = """
import atexit, resource, runpy, sys
def split(path=sys.argv.pop(1)):
    cpu = lambda who: sum(resource.getrusage(who)[:2])
    open(path, "w").write(f"{cpu(resource.RUSAGE_SELF)} {cpu(resource.RUSAGE_CHILDREN)}")
atexit.register(split)
runpy.run_module("services.cli", run_name="__main__", alter_sys=True)
"""


def timed(argv: list[str], cwd: str) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of one child process."""
    return run_child(argv, cwd)[:3]


def timed_split(db: str | None, cwd: str) -> tuple[float, float, float, float, float]:
    """(wall s, CPU s, peak RSS MiB, main process CPU s, store writer CPU s) of one replay."""
    cpu_file = os.path.join(cwd, "cpu.txt")
    argv = [sys.executable, "-c", SPLIT, cpu_file, *(["--db", db] if db else []), *COMMAND]
    wall, cpu, rss = timed(argv, cwd)
    with open(cpu_file) as f:
        main_cpu, writer_cpu = map(float, f.read().split())
    return wall, cpu, rss, main_cpu, writer_cpu


def in_terminal(cwd: str) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of the command with its progress bar drawn on a pseudo-terminal
    (what it shows is read and dropped, as a terminal would show it)."""
    main_fd, term_fd = pty.openpty()
    drain = threading.Thread(target=_drain, args=(main_fd,), daemon=True)
    drain.start()
    try:
        argv = [sys.executable, "-P", "-m", "services.cli", *[a for a in COMMAND if a != "--no-progress"]]
        return run_child(argv, cwd, stderr=term_fd)[:3]
    finally:
        os.close(term_fd)
        drain.join(5)
        os.close(main_fd)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except OSError:  # the terminal's other end closed
        pass


def main(runs: int) -> None:
    results: dict[str, list[tuple]] = {"file": [], "memory": [], "terminal": [], "startup": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            results["file"].append(timed_split(None, tmp))
            results["memory"].append(timed_split("sqlite:///:memory:", tmp))
        with tempfile.TemporaryDirectory() as tmp:
            results["terminal"].append(in_terminal(tmp))
            results["startup"].append(timed([sys.executable, "-c", IMPORTS], tmp))
    for name, rows in results.items():
        walls, cpus, rss, *split = zip(*rows)
        parts = f" (main {spread(split[0])}, store writer {spread(split[1])})" if split else ""
        print(f"{name:>8}: wall {spread(walls)} s, CPU {spread(cpus)} s{parts}, peak RSS {spread(rss, '{:.0f}')} "
              f"MiB ({len(rows)} runs)", flush=True)
    ratio = [f[0] / m[0] for f, m in zip(results["file"], results["memory"])]
    print(f"file / :memory: wall ratio {spread(ratio)}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs (a shared machine inflates wall time)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    main(ap.parse_args().runs)
