"""Oaken's online KV quantizer (Kim et al., ISCA'25, section 4, Eq. 1-4), bit-exact to its layout.

Per token vector, with the layer's profiled thresholds (see `oaken_profile`):

1. Group by comparison: outer (x < T_o_lo or x > T_o_hi), inner (T_i_lo <= x <= T_i_hi),
   middle (the rest). No sorting, so it runs at line rate in the quant engine.
2. Group shift: outer values minus T_o_hi or T_o_lo, middle values minus T_i_hi or
   T_i_lo, inner unshifted. Shifting both sides towards zero shrinks each group's range,
   so the same bits give finer steps.
3. Per token and group, min and max of the shifted values, stored as FP16:
   3 groups x (min, max) x 16 = 96 bits per token vector.
4. Middle: 4-bit uniform over [min, max]. The side (which threshold to add back) is the
   sign of the decoded value; the rare element whose nearest level has the wrong sign
   takes the next level instead ("sign-consistent rounding", error <= one step), so no
   side bit is needed and decode is exact with respect to the stored codes.
5. Inner and outer: 5 bits, 4 of them in the dense slot and 1 in the sparse entry.
   Outer: sign-magnitude, the sign being the side (which threshold to add back),
   magnitude over [0, max] above T_o_hi and over [min, 0] below T_o_lo.
   Inner: plain 5-bit uniform over [min, max], the entry bit being the code's top bit
   (inner values are not shifted, so they have no side to record).
6. Fused dense-and-sparse layout, one 8-bit entry per inner/outer element:
   see `oaken_coo` for the bit layout and the gap fillers.

Cost: 4 bits per element + 8 bits per entry (10 % of elements) + 96 bits per token,
plus 64 bits of thresholds per tensor: 4.82 bits at n = 4096 and 5120, 4.89 at n = 1024.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from twin.quant.algos.base import Encoded, KvEncoder, Part, Stored, as_matrix
from twin.quant.algos.oaken_coo import ENTRY_BITS, gap_fillers, pack_entries, unpack_entries
from twin.quant.algos.oaken_profile import OakenThresholds, profile_thresholds
from twin.quant.algos.uniform import fp16_down, fp16_up, safe_reciprocal

MIDDLE, INNER, OUTER = 0, 1, 2  # group ids; also the row of each group in the min/max metadata
DENSE_BITS = 4
LEVELS = 2**DENSE_BITS - 1  # top code of the middle group and of outer magnitudes
INNER_LEVELS = 2 ** (DENSE_BITS + 1) - 1  # inner codes are 5 bits


def classify(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Group id of each element, given thresholds t = (T_o_lo, T_i_lo, T_i_hi, T_o_hi)."""
    groups = np.full(x.shape, MIDDLE, np.int8)
    groups[(x >= t[1]) & (x <= t[2])] = INNER
    groups[(x < t[0]) | (x > t[3])] = OUTER
    return groups


def group_shift(x: np.ndarray, groups: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Eq. 4: move each side of the middle and outer groups onto zero."""
    # Middle and outer elements above T_i_hi are exactly those on the upper side of their
    # group (an outer one below T_o_lo is also below T_i_lo), so one comparison picks the
    # side; a 6-entry table indexed by (group, side) then gives the shift.
    table = np.array([t[1], t[2], 0, 0, t[0], t[3]], np.float32)  # rows: middle, inner, outer
    side = (x > t[2]).view(np.int8)
    return x - table[groups * 2 + side]


def group_minmax(s: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(tokens, 3, 2) FP16 min/max per token and group, rounded outwards to cover the values."""
    out = np.zeros((s.shape[0], 3, 2), np.float16)
    for g in (MIDDLE, INNER, OUTER):
        member = groups == g
        lo = np.where(member, s, np.inf).min(axis=1)
        hi = np.where(member, s, -np.inf).max(axis=1)
        present = member.any(axis=1)
        out[:, g, 0] = np.where(present, fp16_down(np.where(present, lo, 0)), 0)
        out[:, g, 1] = np.where(present, fp16_up(np.where(present, hi, 0)), 0)
    return out


def middle_values(codes: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Decoded (still shifted) middle values; shared by encoder and decoder so they agree bit for bit."""
    return lo + codes.astype(np.float32) * ((hi - lo) / np.float32(LEVELS))


def inner_values(codes: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return lo + codes.astype(np.float32) * ((hi - lo) / np.float32(INNER_LEVELS))


def magnitude_values(codes: np.ndarray, extent: np.ndarray) -> np.ndarray:
    return codes.astype(np.float32) * (extent / np.float32(LEVELS))


def middle_codes(s: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """4-bit uniform codes whose decoded sign matches the value's side."""
    c = np.clip(np.rint((s - lo) * safe_reciprocal(hi - lo) * LEVELS), 0, LEVELS)
    decoded = middle_values(c, lo, hi)
    c += (s > 0) & (decoded < 0)  # would come back on the T_i_lo side: one level up
    c -= (s < 0) & (decoded >= 0)  # would come back on the T_i_hi side: one level down
    return np.clip(c, 0, LEVELS)


def magnitude_codes(s: np.ndarray, extent: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.abs(s) * safe_reciprocal(extent) * LEVELS), 0, LEVELS)


def inner_codes(s: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """5-bit uniform codes; a filler outside [lo, hi] is clipped to the range."""
    return np.clip(np.rint((s - lo) * safe_reciprocal(hi - lo) * INNER_LEVELS), 0, INNER_LEVELS)


@dataclass(frozen=True)
class Oaken(KvEncoder):
    """Oaken for one layer's K or V, with that layer's profiled thresholds."""

    thresholds: OakenThresholds
    name: str = "oaken"

    @classmethod
    def profile(cls, batches: Iterable[np.ndarray]) -> "Oaken":
        return cls(profile_thresholds(batches))

    def _t(self) -> np.ndarray:
        return self.thresholds.as_fp16().astype(np.float32)

    def encode(self, x: np.ndarray) -> Encoded:
        x = as_matrix(x)
        t = self._t()
        groups = classify(x, t)
        s = group_shift(x, groups, t)
        minmax = group_minmax(s, groups)  # of the true groups: fillers are clipped, not counted
        fillers = gap_fillers(np.flatnonzero(groups != MIDDLE), np.abs(x - (t[1] + t[2]) / 2).reshape(-1))
        groups.reshape(-1)[fillers] = INNER
        s.reshape(-1)[fillers] = x.reshape(-1)[fillers]  # inner values are not shifted
        positions = np.flatnonzero(groups != MIDDLE)
        codes = self._codes(s, groups, minmax.astype(np.float32), positions)
        outer = groups.reshape(-1)[positions] == OUTER
        # Entry bit 7: the side of an outer value, the 5th (top) code bit of an inner one.
        top = np.where(outer, s.reshape(-1)[positions] < 0, codes.reshape(-1)[positions] >> DENSE_BITS)
        return Encoded(self.name, x.shape, {
            "codes": Stored(codes & LEVELS, DENSE_BITS, Part.DENSE),
            "entries": Stored(pack_entries(positions, outer, top), ENTRY_BITS, Part.SPARSE),
            "minmax": Stored(minmax, 16, Part.META),
            "thresholds": Stored(self.thresholds.as_fp16(), 16, Part.TABLE),
        })

    def _codes(self, s: np.ndarray, groups: np.ndarray, mm: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Dense codes: 4-bit middle codes everywhere, then the entries' own codes on top."""
        codes = middle_codes(s, mm[:, MIDDLE, 0:1], mm[:, MIDDLE, 1:2])
        token = positions // s.shape[1]
        sp = s.reshape(-1)[positions]
        inner = inner_codes(sp, mm[token, INNER, 0], mm[token, INNER, 1])
        extent = np.maximum(np.where(sp < 0, -mm[token, OUTER, 0], mm[token, OUTER, 1]), 0)
        outer = magnitude_codes(sp, extent)
        codes.reshape(-1)[positions] = np.where(groups.reshape(-1)[positions] == INNER, inner, outer)
        return codes.astype(np.uint8)  # 5-bit for inner elements, 4-bit elsewhere

    def decode(self, enc: Encoded) -> np.ndarray:
        t = enc["thresholds"].astype(np.float32)
        mm = enc["minmax"].astype(np.float32)
        codes = enc["codes"]
        s = middle_values(codes, mm[:, MIDDLE, 0:1], mm[:, MIDDLE, 1:2])
        out = s + np.where(s >= 0, t[2], t[1])
        positions, outer, top = unpack_entries(enc["entries"])
        token = positions // enc.shape[1]
        low4 = codes.reshape(-1)[positions]
        flat = out.reshape(-1)
        flat[positions] = _outlier_values(low4, outer, top, mm[token], t)
        return out


def _outlier_values(low4: np.ndarray, outer: np.ndarray, top: np.ndarray, mm: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Values of sparse-entry elements from their dense 4 bits, entry bits and token min/max."""
    inner = inner_values(low4 | (top.astype(np.uint8) << DENSE_BITS), mm[:, INNER, 0], mm[:, INNER, 1])
    extent = np.maximum(np.where(top, -mm[:, OUTER, 0], mm[:, OUTER, 1]), 0)
    mag = magnitude_values(low4, extent)
    outer_val = np.where(top, t[0] - mag, t[3] + mag)
    return np.where(outer, outer_val, inner)


def group_shares(x: np.ndarray, thresholds: OakenThresholds) -> dict[str, float]:
    """Share of elements in each group (the profiling target is 4 / 90 / 6 %)."""
    groups = classify(as_matrix(x), thresholds.as_fp16().astype(np.float32))
    counts = np.bincount(groups.reshape(-1), minlength=3) / groups.size
    return {"outer": float(counts[OUTER]), "middle": float(counts[MIDDLE]), "inner": float(counts[INNER])}
