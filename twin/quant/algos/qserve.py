"""QServe-style KV4 (Lin et al., "QServe: W4A8KV4 Quantization and System Co-design for
Efficient LLM Serving", 2024): per-token, per-head asymmetric 4-bit with FP16 scale and
zero, plus SmoothAttention on the keys.

SmoothAttention divides each key channel by lambda_c = max|K_c| ** alpha (alpha = 0.5),
measured offline, and multiplies the matching query channel by the same factor, so
Q K^T is unchanged while the key outlier channels stop stretching every head's range.
The factors are folded into the Q/K projection weights, so they cost no KV storage and
are kept by the encoder, not in `Encoded`. Cost: 4 + 32/128 = 4.25 bits per element
(the artifact's 4.25 for Llama2-7B/13B/70B).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from twin.errors import InvalidSpec
from twin.quant.algos.base import Encoded, KvEncoder, as_matrix, check_kind
from twin.quant.algos.token_group import TokenGroupEncoder

QSERVE_GROUP = 128  # per head: Llama head_dim
SMOOTH_ALPHA = 0.5  # QServe's migration strength for keys


def smooth_scales(batches: Iterable[np.ndarray], alpha: float = SMOOTH_ALPHA) -> np.ndarray:
    """Per-channel lambda = (max over calibration tokens of |K|) ** alpha."""
    peak = None
    for batch in batches:
        m = np.abs(as_matrix(batch)).max(axis=0)
        peak = m if peak is None else np.maximum(peak, m)
    if peak is None:
        raise InvalidSpec("calibration", "needs at least one batch")
    # A dead channel (all zeros) keeps lambda 1 rather than dividing by zero.
    return np.where(peak > 0, peak, 1.0).astype(np.float32) ** alpha


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class QServeKv(KvEncoder):
    """Per-token/per-head KV4; keys are smoothed by `smooth` (None for values)."""

    name: str = "qserve4"
    bits: int = 4
    group: int = QSERVE_GROUP
    smooth: np.ndarray | None = None

    @property
    def _core(self) -> TokenGroupEncoder:
        return TokenGroupEncoder(self.name, self.bits, self.group)

    def encode(self, x: np.ndarray) -> Encoded:
        x = as_matrix(x)
        if self.smooth is not None:
            if self.smooth.shape != (x.shape[1],):
                raise InvalidSpec("smooth", f"needs one factor per channel ({x.shape[1]}), got {self.smooth.shape}")
            x = x / self.smooth
        return self._core.encode(x)

    def decode(self, enc: Encoded) -> np.ndarray:
        y = self._core.decode(enc)
        # Undo the smoothing so errors are measured on the original keys; on the chip
        # the factor lives in the query instead.
        return y if self.smooth is None else y * self.smooth


def qserve_encoder(kind: str, calibration: Iterable[np.ndarray] | None) -> QServeKv:
    """Keys get SmoothAttention factors from `calibration`; values are plain per-head KV4."""
    if check_kind(kind) == "k":
        if calibration is None:
            raise InvalidSpec("calibration", "QServe keys need calibration batches for SmoothAttention")
        return QServeKv(smooth=smooth_scales(calibration))
    return QServeKv()
