"""Percentiles of a stream in bounded memory.

Up to `exact_limit` values are kept and percentiles are exact (numpy's linear
interpolation, computed here in plain Python: the twin's start-up does not import numpy). Beyond that the values move into a log-bucketed histogram in the manner
of DDSketch (Masson, Rim and Lee, VLDB 2019): a positive value x falls in bucket
ceil(log_g x) with g = (1 + a) / (1 - a), and the bucket reports 2 g^i / (g + 1), which
is within a relative error `a` of every value in it. A percentile interpolates between
the two ranks numpy would use, so it is within `a` (relative) of numpy's answer on the
same values. Memory is the number of occupied buckets: at a = 0.1 % about 1,150 per
decade of range, whatever the count. Mean and max stay exact.
"""

from __future__ import annotations

import math
from array import array

RELATIVE_ERROR = 1e-3  # the stated bound on every percentile once the sketch takes over
EXACT_LIMIT = 50_000  # values kept exactly before switching to buckets (400 kB)
TINY = 1e-12  # values at or below this (seconds) are counted as zero


class Quantiles:
    def __init__(self, relative_error: float = RELATIVE_ERROR, exact_limit: int = EXACT_LIMIT):
        self.gamma = (1 + relative_error) / (1 - relative_error)
        self._log_gamma = math.log(self.gamma)
        self.exact_limit = exact_limit
        self._values: array | None = array("d")  # 8 bytes a value; None once the buckets hold everything
        self._buckets: dict[int, int] = {}
        self._zeros = 0
        # count, sum and max of the values in the buckets (of those kept exactly, worked out when asked:
        # adding a value is then one append, and it is done three times per request)
        self._count = 0
        self._total = 0.0
        self._max = -math.inf

    def add(self, x: float) -> None:
        values = self._values
        if values is None:
            self._count += 1
            self._total += x
            if x > self._max:
                self._max = x
            self._bucket(x)
            return
        values.append(x)
        if len(values) > self.exact_limit:
            self._count, self._total, self._max = self.count, self.total, self.max
            self._values = None
            for v in values:
                self._bucket(v)

    @property
    def count(self) -> int:
        return self._count if self._values is None else len(self._values)

    @property
    def total(self) -> float:
        """The sum, added in arrival order (as a running sum would be)."""
        if self._values is None:
            return self._total
        total = 0.0
        for v in self._values:
            total += v
        return total

    @property
    def max(self) -> float:
        return self._max if self._values is None else max(self._values, default=-math.inf)

    def _bucket(self, x: float) -> None:
        if x <= TINY:
            self._zeros += 1
            return
        i = math.ceil(math.log(x) / self._log_gamma)
        self._buckets[i] = self._buckets.get(i, 0) + 1

    @property
    def exact(self) -> bool:
        return self._values is not None

    def percentiles(self, qs: list[float]) -> list[float]:
        """The q-th percentiles (0..100), numpy's 'linear' definition."""
        if self._values is not None:
            ordered = sorted(self._values)
            return [_linear(ordered, q / 100 * (len(ordered) - 1)) for q in qs]
        return [min(self._interpolated(q / 100 * (self.count - 1)), self.max) for q in qs]

    def _interpolated(self, rank: float) -> float:
        lo = math.floor(rank)
        a, b = self._at_ranks(lo, min(lo + 1, self.count - 1))
        return a + (rank - lo) * (b - a)

    def _at_ranks(self, r1: int, r2: int) -> tuple[float, float]:
        """Representative values of the r1-th and r2-th smallest values (0-based, r1 <= r2)."""
        out: list[float] = []
        seen = self._zeros
        if r1 < seen:
            out.append(0.0)
        if r2 < seen:
            out.append(0.0)
        for i in sorted(self._buckets):
            seen += self._buckets[i]
            while len(out) < 2 and (r1 if not out else r2) < seen:
                out.append(2 * self.gamma ** i / (self.gamma + 1))
            if len(out) == 2:
                break
        return out[0], out[1]


def _linear(ordered: list[float], rank: float) -> float:
    """The value at fractional `rank` of sorted values, interpolated as numpy's 'linear' method does
    (from the upper neighbour when past the midpoint, so the result matches numpy's to the last bit)."""
    lo = math.floor(rank)
    hi = min(lo + 1, len(ordered) - 1)
    a, b, t = ordered[lo], ordered[hi], rank - lo
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t
