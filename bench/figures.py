"""What the benchmarks measure in a process (its CPU seconds) and print for a figure measured several
times (the median and the min-max)."""

from __future__ import annotations

import resource
import statistics


def spread(values, fmt: str = "{:.2f}") -> str:
    """'median (min-max)' of `values`, each formatted with `fmt`."""
    values = list(values)
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def cpu_s() -> float:
    """User + system CPU seconds of this process so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime
