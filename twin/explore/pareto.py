"""The Pareto front of sweep points over several objectives, each to maximise or minimise."""

from __future__ import annotations

from typing import Mapping, Sequence


def dominates(a: Mapping, b: Mapping, objectives: Mapping[str, str]) -> bool:
    """a is at least as good as b on every objective and better on one (None never wins)."""
    better = False
    for key, sense in objectives.items():
        x, y = a.get(key), b.get(key)
        if x is None or y is None:
            if x is None and y is not None:
                return False
            continue
        if (x < y) if sense == "max" else (x > y):
            return False
        better = better or x != y
    return better


def pareto_front(rows: Sequence[Mapping], objectives: Mapping[str, str]) -> list[int]:
    """Indices of the rows no other row dominates."""
    return [i for i, a in enumerate(rows) if not any(dominates(b, a, objectives) for j, b in enumerate(rows) if j != i)]
