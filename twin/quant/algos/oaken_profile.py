"""Oaken's offline profiling (Kim et al., "Oaken: Fast and Efficient LLM Serving with
Online-Offline Hybrid KV Cache Quantization", ISCA'25, section 4.2).

Per decoder layer, separately for K and V, four thresholds split values into an outer
group (4 %), a middle group (90 %) and an inner, near-zero group (6 %). They are the
signed quantiles q(0.02), q(0.47), q(0.53), q(0.98) of the whole projection output of
one profiling batch, averaged over the batches (the authors' artifact does exactly this,
taking the lower quantile with "lower" and the upper with "higher" interpolation). The
thresholds are then frozen, so online quantization only compares, never sorts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from twin.errors import InvalidSpec
from twin.quant.algos.base import as_matrix

OUTER_SHARE = 0.04
INNER_SHARE = 0.06
# Lower tails use "lower" interpolation and upper tails "higher", as in the artifact, so
# a threshold is always a value that occurred.
_QUANTILES = (
    (OUTER_SHARE / 2, "lower"),  # T_o_lo = q(0.02)
    (0.5 - INNER_SHARE / 2, "lower"),  # T_i_lo = q(0.47)
    (0.5 + INNER_SHARE / 2, "higher"),  # T_i_hi = q(0.53)
    (1 - OUTER_SHARE / 2, "higher"),  # T_o_hi = q(0.98)
)


@dataclass(frozen=True)
class OakenThresholds:
    """T_o_lo < T_i_lo <= T_i_hi < T_o_hi for one layer's K or V."""

    outer_lo: float
    inner_lo: float
    inner_hi: float
    outer_hi: float

    def __post_init__(self) -> None:
        if not self.outer_lo < self.inner_lo <= self.inner_hi < self.outer_hi:
            raise InvalidSpec("oaken.thresholds", f"need outer_lo < inner_lo <= inner_hi < outer_hi, got {self}")

    def as_fp16(self) -> np.ndarray:
        """The four thresholds as stored on the chip (FP16, one table per layer and K/V)."""
        return np.array([self.outer_lo, self.inner_lo, self.inner_hi, self.outer_hi], np.float16)

    @classmethod
    def from_fp16(cls, table: np.ndarray) -> "OakenThresholds":
        return cls(*(float(v) for v in table.astype(np.float32)))


def batch_quantiles(x: np.ndarray) -> np.ndarray:
    """The four signed quantiles of one profiling batch, over all its tokens and channels."""
    flat = as_matrix(x).reshape(-1)
    return np.array([np.quantile(flat, q, method=m) for q, m in _QUANTILES], np.float64)


def profile_thresholds(batches: Iterable[np.ndarray]) -> OakenThresholds:
    """Average each batch's quantiles, as Oaken's offline profiling does."""
    rows = [batch_quantiles(b) for b in batches]
    if not rows:
        raise InvalidSpec("profiling", "needs at least one batch")
    mean = np.mean(rows, axis=0)
    # Rounding to FP16 first means the thresholds the encoder uses are exactly these.
    return OakenThresholds.from_fp16(mean.astype(np.float16))
