"""Asymmetric uniform quantization with FP16 scale and zero point, shared by the baselines.

Every baseline here (INT8/INT4 per token, KIVI, QServe, Atom) stores, per group of
elements, an FP16 zero point (the group minimum) and an FP16 scale, and codes
c = round((x - zero) / scale). Both are rounded *outwards* to FP16 (zero down, scale
up) so the stored grid still covers the group's whole range: no value is clipped
because FP16 rounding shrank the range.
"""

from __future__ import annotations

import numpy as np

from twin.errors import InvalidSpec

FP16_MAX = float(np.finfo(np.float16).max)


def fp16_down(a: np.ndarray) -> np.ndarray:
    """The largest FP16 value <= a (elementwise)."""
    a = np.clip(np.asarray(a, np.float32), -FP16_MAX, FP16_MAX)
    h = a.astype(np.float16)
    over = h.astype(np.float32) > a
    return np.where(over, np.nextafter(h, np.float16(-np.inf)), h)


def fp16_up(a: np.ndarray) -> np.ndarray:
    """The smallest FP16 value >= a (elementwise)."""
    a = np.clip(np.asarray(a, np.float32), -FP16_MAX, FP16_MAX)
    h = a.astype(np.float16)
    under = h.astype(np.float32) < a
    return np.where(under, np.nextafter(h, np.float16(np.inf)), h)


def safe_reciprocal(a: np.ndarray) -> np.ndarray:
    """1/a, with 0 where a == 0: a zero-width group codes everything as 0."""
    a = np.asarray(a, np.float32)
    return np.divide(1.0, a, out=np.zeros_like(a), where=a != 0)


def asym_params(lo: np.ndarray, hi: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """FP16 (scale, zero) covering [lo, hi] with 2**bits levels."""
    zero = fp16_down(lo)
    scale = fp16_up((np.asarray(hi, np.float32) - zero.astype(np.float32)) / (2**bits - 1))
    return scale, zero


def asym_quantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray, bits: int) -> np.ndarray:
    inv = safe_reciprocal(scale.astype(np.float32))
    codes = np.rint((x - zero.astype(np.float32)) * inv)
    return np.clip(codes, 0, 2**bits - 1).astype(np.uint8)


def asym_dequantize(codes: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    return codes.astype(np.float32) * scale.astype(np.float32) + zero.astype(np.float32)


def quantize_along(x: np.ndarray, axis: int, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantize groups that run along `axis`: one (scale, zero) per group, kept with that axis as size 1."""
    if not 1 <= bits <= 8:
        raise InvalidSpec("bits", f"must be in 1..8, got {bits}")
    scale, zero = asym_params(x.min(axis=axis, keepdims=True), x.max(axis=axis, keepdims=True), bits)
    return asym_quantize(x, scale, zero, bits), scale, zero


def token_groups(x: np.ndarray, group: int) -> np.ndarray:
    """View (tokens, n) as (tokens, n/group, group): groups of channels inside each token vector."""
    tokens, n = x.shape
    if n % group:
        raise InvalidSpec("group", f"channels ({n}) must be a multiple of the group size ({group})")
    return x.reshape(tokens, n // group, group)


def channel_groups(x: np.ndarray, group: int) -> np.ndarray:
    """View (tokens, n) as (tokens/group, group, n): groups of tokens inside each channel."""
    tokens, n = x.shape
    if tokens % group:
        raise InvalidSpec("group", f"tokens ({tokens}) must be a multiple of the group size ({group})")
    return x.reshape(tokens // group, group, n)
