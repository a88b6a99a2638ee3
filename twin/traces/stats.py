"""Summary statistics of a request sequence, defined as in shared/traces/README.md.

Mean rate = requests / (last arrival - first arrival); inter-arrival CV is the
population standard deviation of the sorted gaps over their mean; percentiles
use numpy's default linear interpolation. Undefined values (a single request,
or all at one instant) are None rather than NaN, so ``to_dict`` is valid JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from twin.errors import InvalidSpec
from twin.serving.request import TraceRequest

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class LengthStats:
    """Distribution of one token count (prompt or output)."""

    mean: float
    median: float
    p90: float
    p99: float
    min: int
    max: int

    @classmethod
    def of(cls, values: np.ndarray) -> LengthStats:
        import numpy as np  # here, not at the top: reading a trace file never loads numpy
        median, p90, p99 = np.percentile(values, [50, 90, 99]).tolist()
        return cls(float(values.mean()), median, p90, p99, int(values.min()), int(values.max()))


@dataclass(frozen=True)
class TraceStats:
    """Arrival-process and length statistics of a trace."""

    count: int
    span_s: float
    mean_rate_rps: float | None
    interarrival_cv: float | None
    input: LengthStats
    output: LengthStats

    def to_dict(self) -> dict:
        """Plain dict (nested for input/output), JSON-serialisable."""
        return asdict(self)


def trace_stats(requests: Iterable[TraceRequest]) -> TraceStats:
    """Statistics of ``requests`` (any order; arrivals are sorted here)."""
    import numpy as np
    items = list(requests)
    if not items:
        raise InvalidSpec("requests", "statistics need at least one request")
    arrivals = np.sort(np.fromiter((r.arrival_s for r in items), dtype=np.float64, count=len(items)))
    span = float(arrivals[-1] - arrivals[0])
    return TraceStats(
        count=len(items),
        span_s=span,
        mean_rate_rps=len(items) / span if span > 0 else None,
        interarrival_cv=_cv(np.diff(arrivals)),
        input=LengthStats.of(np.fromiter((r.input_tokens for r in items), dtype=np.int64, count=len(items))),
        output=LengthStats.of(np.fromiter((r.output_tokens for r in items), dtype=np.int64, count=len(items))),
    )


def _cv(gaps: np.ndarray) -> float | None:
    if len(gaps) == 0 or gaps.mean() <= 0:
        return None
    return float(gaps.std() / gaps.mean())
