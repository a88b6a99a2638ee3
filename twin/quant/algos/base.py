"""What a KV quantizer stores, and the interface every encoder in this package follows.

An `Encoded` holds exactly the arrays that would sit in memory for one layer's K or V
tensor (tokens x channels): small-int code arrays, FP16 scales / zero points / min-max,
and sparse entries. Each array says how many bits one of its values occupies, so the
storage cost is computed from what was encoded, never from a formula on the side.

Arrays are tagged with the part of the layout they belong to, because memory planning
(`twin.quant.schemes.KvScheme`) prices the parts differently:

- DENSE: one value per element (or a per-element block such as KIVI's FP16 residual).
- SPARSE: one value per sparse entry; every SPARSE array of an encoding has one row per entry.
- META: per token vector or per group inside it (scales, zero points, min/max, row pointers).
- TABLE: per tensor, i.e. per layer (thresholds, codebooks, per-channel calibration).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from typing import Mapping

import numpy as np

from twin.errors import InvalidSpec


class Part(str, Enum):
    DENSE = "dense"
    SPARSE = "sparse"
    META = "meta"
    TABLE = "table"


_FLOAT_BITS = {np.dtype(np.float16): 16, np.dtype(np.float32): 32}


@dataclass(frozen=True)
class Stored:
    """One array as it sits in memory: its values and the bits each value occupies."""

    data: np.ndarray
    bits: int
    part: Part

    def __post_init__(self) -> None:
        dtype = self.data.dtype
        if dtype in _FLOAT_BITS:
            if self.bits != _FLOAT_BITS[dtype]:
                raise InvalidSpec("stored.bits", f"{dtype} values take {_FLOAT_BITS[dtype]} bits, got {self.bits}")
            return
        if dtype.kind not in "ui" or not 1 <= self.bits <= dtype.itemsize * 8:
            raise InvalidSpec("stored.bits", f"{self.bits} bits cannot hold {dtype} values")
        # Codes are packed unsigned: every value must fit the declared width, or the
        # bit count would understate what memory really needs.
        if self.data.size and (self.data.min() < 0 or int(self.data.max()) >> self.bits):
            raise InvalidSpec("stored.data", f"values do not fit in {self.bits} unsigned bits")

    @property
    def total_bits(self) -> int:
        return int(self.data.size) * self.bits


@dataclass(frozen=True)
class Encoded:
    """Everything one encoder stored for a (tokens, channels) tensor."""

    scheme: str
    shape: tuple[int, int]
    fields: Mapping[str, Stored] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.fields[name].data

    @property
    def n_elems(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def n_entries(self) -> int:
        """Number of sparse entries (0 for a scheme with no sparse part)."""
        sizes = {f.data.shape[0] for f in self.fields.values() if f.part is Part.SPARSE}
        if len(sizes) > 1:
            raise InvalidSpec("encoded.sparse", f"sparse arrays disagree on entry count: {sorted(sizes)}")
        return sizes.pop() if sizes else 0

    def bits_by_part(self) -> dict[Part, int]:
        out = {part: 0 for part in Part}
        for stored in self.fields.values():
            out[stored.part] += stored.total_bits
        return out

    def storage_bits(self) -> int:
        return sum(self.bits_by_part().values())


def storage_bits(enc: Encoded) -> int:
    """Bits the encoding occupies: dense codes + sparse entries + metadata + tables."""
    return enc.storage_bits()


def effective_bits(enc: Encoded) -> float:
    """Storage bits per element of the original tensor."""
    return enc.storage_bits() / enc.n_elems


def scheme_terms(enc: Encoded) -> dict[str, float]:
    """The encoding's cost split the way `KvScheme` prices it (per element / entry / vector).

    TABLE bits are spread over the elements (they are paid once per layer, not per token),
    so `effective_bits` equals dense + fraction*entry + meta/n + table share exactly.
    """
    parts = enc.bits_by_part()
    tokens, n = enc.shape
    entries = enc.n_entries
    return {
        "dense_bits": parts[Part.DENSE] / enc.n_elems,
        "outlier_fraction": entries / enc.n_elems,
        "outlier_entry_bits": parts[Part.SPARSE] / entries if entries else 0.0,
        "metadata_bits_per_vector": parts[Part.META] / tokens,
        "table_bits_per_elem": parts[Part.TABLE] / enc.n_elems,
        "n_elems_per_vector": float(n),
    }


class KvEncoder(ABC):
    """Quantizes one layer's K or V tensor (tokens, channels) and restores it."""

    name: str

    @abstractmethod
    def encode(self, x: np.ndarray) -> Encoded:
        """Quantize `x`; the result holds only what would be stored."""

    @abstractmethod
    def decode(self, enc: Encoded) -> np.ndarray:
        """Rebuild a float32 (tokens, channels) tensor from what was stored."""

    def round_trip(self, x: np.ndarray) -> tuple[Encoded, np.ndarray]:
        enc = self.encode(x)
        return enc, self.decode(enc)


KINDS = ("k", "v")  # a layer's keys or values


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidSpec("kind", f"must be 'k' or 'v', got {kind!r}")
    return kind


def as_matrix(x: np.ndarray) -> np.ndarray:
    """Check the (tokens, channels) contract and compute in float32, as the hardware does."""
    x = np.asarray(x)
    if x.ndim != 2 or x.size == 0:
        raise InvalidSpec("x", f"must be a non-empty (tokens, channels) array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidSpec("x", "must be finite")
    return x.astype(np.float32, copy=False)


def mse(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((np.asarray(x, np.float64) - y) ** 2))


def nmse(x: np.ndarray, y: np.ndarray) -> float:
    """MSE relative to the signal power, so tensors of different scale compare."""
    power = float(np.mean(np.asarray(x, np.float64) ** 2))
    return mse(x, y) / power if power else 0.0
