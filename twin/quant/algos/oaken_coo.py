"""Oaken's fused dense-and-sparse encoding (ISCA'25, section 4.5): the 8-bit COO entry.

The dense 4-bit matrix has a slot for every element. A middle-group slot holds that
element's 4-bit code. An outlier (inner- or outer-group) slot holds 4 of the bits of
its 5-bit code, and the element also gets one 8-bit sparse entry:

    bit 7               bit 6      bits 5..0
    outer: side         group      gap
      (1 = below T_o_lo) 1 = outer  (elements between this entry and the previous one)
    inner: code bit 4    0 = inner  = 0..63

Outer codes are sign-magnitude (the side is the sign, the dense slot the magnitude);
inner codes are 5-bit uniform (bit 7 is their top bit). Decode needs nothing else: the
paper's "6-bit index, 1 group bit, 1 sign bit", with the sign bit doubling as the 5th
code bit of inner values, which are not shifted and so have no side.

Why a gap: the paper's 6-bit index addresses a 64-element run but does not say how a
decoder knows which run an entry belongs to; a fixed run grid would need a per-run count
(7 bits per 64 elements, +0.11 bits/elem). Here the run starts right after the previous
entry in the row-major stream of the tensor (one page of one layer's K or V), so the
entry at flat position p has gap = p - p_prev - 1 and positions are a running sum. The
stream crosses token boundaries, so no per-token count is stored either.

The price: when 64 or more middle elements separate two entries, the encoder promotes
"filler" elements into the inner group so that no gap exceeds 63. A filler is the
element of its 32-element block closest to the centre of the inner range, so coding it
as inner (clipped to that range) costs least. At Oaken's 10 % outlier share, gaps of
64 are rare (0.9**64 = 0.1 % per entry for scattered outliers), so fillers barely move
the entry count.
"""

from __future__ import annotations

import numpy as np

from twin.errors import InvalidSpec

ENTRY_BITS = 8
GAP_BITS = 6
MAX_STRIDE = 2**GAP_BITS  # largest allowed distance between consecutive entry positions
_GROUP_SHIFT = 6
_SIGN_SHIFT = 7
_BLOCK = MAX_STRIDE // 2  # one filler per block keeps every stride <= 64


def _fillers_between(a: int, b: int, cost: np.ndarray) -> np.ndarray:
    """Cheapest element of each 32-element block strictly between positions a and b."""
    span = cost[a + 1 : b]
    blocks = -(-span.size // _BLOCK)
    padded = np.full(blocks * _BLOCK, np.inf, np.float32)
    padded[: span.size] = span
    # Picks from adjacent blocks are < 64 apart, the first is <= 32 after a and the last
    # <= 32 before b, so every stride is within MAX_STRIDE.
    picks = np.argmin(padded.reshape(blocks, _BLOCK), axis=1)
    return a + 1 + np.arange(blocks) * _BLOCK + picks


def gap_fillers(positions: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Flat positions to promote so that consecutive entries are at most 64 apart.

    `positions` are the sorted flat positions of the true outliers; `cost` (flattened like
    the tensor) ranks candidates, lowest promoted first.
    """
    prev = np.concatenate(([-1], positions[:-1]))
    wide = np.flatnonzero(positions - prev > MAX_STRIDE)
    if wide.size == 0:
        return np.empty(0, np.int64)
    return np.concatenate([_fillers_between(prev[i], positions[i], cost) for i in wide])


def pack_entries(positions: np.ndarray, outer: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """8-bit entries for sorted flat `positions`; each stride must be <= 64."""
    gaps = np.diff(positions, prepend=-1) - 1
    if gaps.size and (gaps.min() < 0 or gaps.max() >= MAX_STRIDE):
        raise InvalidSpec("oaken.coo", "positions must be strictly increasing with strides <= 64")
    entries = gaps.astype(np.uint8)
    entries |= outer.astype(np.uint8) << _GROUP_SHIFT
    entries |= negative.astype(np.uint8) << _SIGN_SHIFT
    return entries


def unpack_entries(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of `pack_entries`: (flat positions, is-outer flags, is-negative flags)."""
    gaps = (entries & (MAX_STRIDE - 1)).astype(np.int64)
    positions = np.cumsum(gaps + 1) - 1
    outer = ((entries >> _GROUP_SHIFT) & 1).astype(bool)
    negative = ((entries >> _SIGN_SHIFT) & 1).astype(bool)
    return positions, outer, negative
