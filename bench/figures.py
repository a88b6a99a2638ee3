"""What the benchmarks print for a figure measured several times: the median and the min-max."""

from __future__ import annotations

import statistics


def spread(values, fmt: str = "{:.2f}") -> str:
    """'median (min-max)' of `values`, each formatted with `fmt`."""
    values = list(values)
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"
