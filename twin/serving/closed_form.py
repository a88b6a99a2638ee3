"""Sums of step times between two batch changes, in closed form.

Between changes a decode batch is fixed and every context grows by one token per
step, so each step's time is the maximum of a few affine functions of the step
index k (memory-, compute- or vector-bound): a convex piecewise-linear function.
Its cumulative sum over k steps, and the inverse (how many steps fit in a time),
follow from the breakpoints without visiting the steps one by one.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple


class Affine(NamedTuple):  # a tuple: built three times per decode run, a frozen dataclass is slower to make
    a: float  # value at k = 0
    b: float  # increase per step

    def at(self, k: float) -> float:
        return self.a + self.b * k


# An Affine from an (a, b) pair, made by tuple.__new__ itself: a NamedTuple's own constructor is a Python
# function, and a decode run builds three of these (twice the cost, a few per cent of a replay).
new_affine = partial(tuple.__new__, Affine)


class StepTimes:
    """t(k) = max_j(a_j + b_j k) for k = 0, 1, 2, ...; T(K) = t(0) + ... + t(K-1)."""

    def __init__(self, lines: list[Affine]):
        self.segments = _upper_envelope(lines)  # [(k_start, line)], k_start ascending

    def at(self, k: int) -> float:
        return max(line.at(k) for _, line in self.segments)

    def total(self, steps: int) -> float:
        """T(steps): the time of the first `steps` steps."""
        segments = self.segments
        if len(segments) == 1 or steps <= segments[1][0]:  # one bound all along (the common case)
            line = segments[0][1]
            return steps * line.a + line.b * (steps - 1) * steps / 2
        acc = 0.0
        for i, (k0, line) in enumerate(self.segments):
            k1 = self.segments[i + 1][0] if i + 1 < len(self.segments) else steps
            k1 = min(k1, steps)
            if k1 > k0:
                n = k1 - k0
                acc += n * line.a + line.b * (k0 + k1 - 1) * n / 2
        return acc

    def steps_within(self, elapsed: float, limit: int) -> int:
        """The number of whole steps (at most `limit`) completed `elapsed` seconds in."""
        segments = self.segments
        if (len(segments) == 1 or limit <= segments[1][0]) and segments[0][1].b >= 0:
            return self._one_line_steps(elapsed, limit)  # one bound over the steps asked about
        return steps_within(self.total, elapsed, limit)

    def _one_line_steps(self, elapsed: float, limit: int) -> int:
        """Invert T(k) = a k + b k (k - 1) / 2 by the quadratic formula, then settle the rounding on T itself."""
        line = self.segments[0][1]
        a, b = line.a, line.b
        if b > 0:
            p = a - b / 2
            k = int((math.sqrt(p * p + 2 * b * max(elapsed, 0.0)) - p) / b)
        else:
            k = int(max(elapsed, 0.0) / a) if a > 0 else limit
        k = max(0, min(k, limit))
        while k < limit and self.total(k + 1) <= elapsed:
            k += 1
        while k > 0 and self.total(k) > elapsed:
            k -= 1
        return k


def steps_within(total, elapsed: float, limit: int) -> int:
    """The most whole steps (at most `limit`) whose time `total(steps)`, increasing in steps, fits in `elapsed`."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if total(mid) <= elapsed else (lo, mid - 1)
    return lo


def _upper_envelope(lines: list[Affine]) -> list[tuple[int, Affine]]:
    """Integer step indices where each line is the maximum, for k >= 0."""
    segments: list[tuple[int, Affine]] = []
    k = 0
    current = max(lines)  # highest at k = 0, and of those the fastest growing: (a, b) as tuples compare
    segments.append((0, current))
    while True:
        nxt: Affine | None = None
        k_next = 0
        for ln in lines:
            if ln.b <= current.b:
                continue
            # first integer k where ln overtakes current
            cross = (current.a - ln.a) / (ln.b - current.b)
            kc = max(k + 1, int(cross) + 1 if cross >= 0 else 0)
            if nxt is None or kc < k_next or (kc == k_next and (ln.at(kc), ln.b) > (nxt.at(kc), nxt.b)):
                nxt, k_next = ln, kc
        if nxt is None:
            return segments
        segments.append((k_next, nxt))
        current, k = nxt, k_next
