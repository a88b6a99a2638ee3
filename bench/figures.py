"""What the benchmarks measure (a process's CPU seconds, a child command's own wall, CPU and peak RSS)
and print for a figure measured several times (the median and the min-max)."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time


def spread(values, fmt: str = "{:.2f}") -> str:
    """'median (min-max)' of `values`, each formatted with `fmt`."""
    values = list(values)
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def core_build() -> str:
    """How the twin this process imports was installed: its hot modules compiled by mypyc (`pip install .`)
    or Python (an editable install, TWIN_COMPILE=0, or a tree put first on PYTHONPATH)."""
    from twin.serving import batch
    return "compiled" if batch.__file__.endswith((".so", ".pyd")) else "Python"


def cpu_s() -> float:
    """User + system CPU seconds of this process so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_child(argv: list[str], cwd: str, stderr=None) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MiB, stdout) of one command, from its own rusage (os.wait4: not the
    running maximum over every child so far that RUSAGE_CHILDREN gives); SystemExit if it fails.
    `stderr`: where its standard error goes (a file descriptor, e.g. a terminal's), else inherited."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=stderr, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(argv)} exited with {child.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out
