"""KVQuant-style dense-and-sparse KV4 (Hooper et al., "KVQuant: Towards 10 Million Context
Length LLM Inference with KV Cache Quantization", NeurIPS'24).

- Non-uniform 4-bit codebook: 16 levels at evenly spaced quantiles of a normal
  distribution, scaled to [-1, 1] (the "NF" datatype the Oaken artifact runs), because
  K/V values are bell-shaped and uniform levels waste codes on the sparse tails.
- Keys are normalized per channel (key outliers live in fixed channels), values per
  token. Normalization = centre and half-range of the vector's non-outlier values.
- The `outlier_share` (1 %) largest-magnitude values of each vector (each channel for K,
  each token for V) are removed before normalization and stored as sparse FP16
  entries with their channel index, so they come back bit-exact.

Stored layout (what `storage_bits` counts):
- dense: a 4-bit code for every element (outlier slots included, as a dense matrix is
  addressed uniformly);
- sparse, CSR by token: FP16 value + 16-bit channel index per outlier, and a 32-bit row
  pointer per token (+1);
- V: FP16 centre and half-range per token; K: the same per channel, once per tensor;
  the 16-entry FP16 codebook once per tensor.
With 1 % outliers this is about 4 + 0.01 x 32 + 64/n bits for V. The Oaken artifact
reports 4.82 / 4.81 / 5.01 for Llama2-7B/13B/70B; that accounting (it implies ~0.76
bits/elem of sparse cost plus ~256 bits per vector) is not published, so this
encoder's own, smaller, count is what it reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from twin.errors import InvalidSpec
from twin.quant.algos.base import Encoded, KvEncoder, Part, Stored, as_matrix, check_kind
from twin.quant.algos.uniform import fp16_up, safe_reciprocal

OUTLIER_SHARE = 0.01


def normal_codebook(bits: int = 4) -> np.ndarray:
    """2**bits levels at the centres of equal-probability bins of N(0, 1), scaled to [-1, 1]."""
    n = 2**bits
    z = np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)], np.float32)
    return (z / z[-1]).astype(np.float16)


def nearest_level(y: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Index of the closest codebook level (levels sorted ascending)."""
    mids = (levels[1:] + levels[:-1]) / 2
    return np.searchsorted(mids, y).astype(np.uint8)


def top_share_mask(x: np.ndarray, share: float, axis: int) -> np.ndarray:
    """True at the round(share * length) largest |x| of every vector along `axis`."""
    length = x.shape[axis]
    k = int(round(share * length))
    mask = np.zeros(x.shape, bool)
    if k == 0:
        return mask
    idx = np.argpartition(-np.abs(x), k - 1, axis=axis)
    idx = idx[:, :k] if axis == 1 else idx[:k, :]
    np.put_along_axis(mask, idx, True, axis=axis)
    return mask


@dataclass(frozen=True)
class KvQuant(KvEncoder):
    kind: str  # "k": per-channel normalization and outliers; "v": per-token
    outlier_share: float = OUTLIER_SHARE
    bits: int = 4
    name: str = "kvquant4"

    def __post_init__(self) -> None:
        check_kind(self.kind)
        if not 0 <= self.outlier_share < 0.5:
            raise InvalidSpec("outlier_share", f"must be in [0, 0.5), got {self.outlier_share}")

    @property
    def _axis(self) -> int:
        """Axis along which one normalization vector runs (tokens for K, channels for V)."""
        return 0 if self.kind == "k" else 1

    def _normalizers(self, x: np.ndarray, outliers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """FP16 centre and half-range of each vector's inliers, rounded to cover them."""
        lo = np.where(outliers, np.inf, x).min(axis=self._axis, keepdims=True)
        hi = np.where(outliers, -np.inf, x).max(axis=self._axis, keepdims=True)
        lo, hi = np.where(np.isfinite(lo), lo, 0), np.where(np.isfinite(hi), hi, 0)
        centre = ((lo + hi) / 2).astype(np.float16)
        c = centre.astype(np.float32)
        half = fp16_up(np.maximum(hi - c, c - lo))
        return centre, half

    def encode(self, x: np.ndarray) -> Encoded:
        x = as_matrix(x)
        if x.shape[1] > 2**16:
            raise InvalidSpec("x", "16-bit channel indices address at most 65,536 channels")
        outliers = top_share_mask(x, self.outlier_share, self._axis)
        centre, half = self._normalizers(x, outliers)
        levels = normal_codebook(self.bits)
        y = (x - centre.astype(np.float32)) * safe_reciprocal(half)
        codes = nearest_level(y, levels.astype(np.float32))
        rows, cols = np.nonzero(outliers)  # row-major: CSR order
        norm_part = Part.TABLE if self.kind == "k" else Part.META
        return Encoded(self.name, x.shape, {
            "codes": Stored(codes, self.bits, Part.DENSE),
            "values": Stored(x[rows, cols].astype(np.float16), 16, Part.SPARSE),
            "cols": Stored(cols.astype(np.uint16), 16, Part.SPARSE),
            "row_ptr": Stored(_row_pointers(rows, x.shape[0]), 32, Part.META),
            "centre": Stored(centre.reshape(-1), 16, norm_part),
            "half": Stored(half.reshape(-1), 16, norm_part),
            "codebook": Stored(levels, 16, Part.TABLE),
        })

    def decode(self, enc: Encoded) -> np.ndarray:
        shape = (1, -1) if self.kind == "k" else (-1, 1)
        centre = enc["centre"].astype(np.float32).reshape(shape)
        half = enc["half"].astype(np.float32).reshape(shape)
        out = enc["codebook"].astype(np.float32)[enc["codes"]] * half + centre
        counts = np.diff(enc["row_ptr"].astype(np.int64))
        rows = np.repeat(np.arange(enc.shape[0]), counts)
        out[rows, enc["cols"]] = enc["values"]  # sparse entries overwrite: exact FP16
        return out


def _row_pointers(rows: np.ndarray, tokens: int) -> np.ndarray:
    """CSR row pointer: entries of token t are [ptr[t], ptr[t+1])."""
    counts = np.bincount(rows, minlength=tokens)
    return np.concatenate(([0], np.cumsum(counts))).astype(np.uint32)
