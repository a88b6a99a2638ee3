"""Quantization schemes as data: memory planning and bandwidth ask them for bytes.

A scheme's byte cost counts everything it stores: the dense codes, scales and zero
points, sparse outlier entries and per-token metadata. Nothing else in the twin
assumes "2 bytes per element".
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.errors import InvalidSpec, UnknownName

FP16_BYTES = 2.0  # IEEE half precision: the unquantized element and every scale/zero below


@dataclass(frozen=True)
class WeightScheme:
    """Weights stored with `bits` per element plus one FP16 scale and zero per `group_size` elements."""

    name: str
    bits: int
    group_size: int | None = None  # None: no scales (FP16)

    def __post_init__(self) -> None:
        if self.bits not in (4, 8, 16):
            raise InvalidSpec("weights.bits", f"must be 4, 8 or 16, got {self.bits}")

    def bytes_for(self, n_elems: float) -> float:
        dense = n_elems * self.bits / 8
        scales = 0.0 if self.group_size is None else n_elems / self.group_size * 2 * FP16_BYTES
        return dense + scales


@dataclass(frozen=True)
class KvScheme:
    """KV cache storage: dense bits per element, sparse outliers, and per-vector metadata.

    `bytes_per_vector(n)` is the cost of one token's K (or V) vector of n elements in one
    layer, which is what a paged KV cache allocates and what attention streams back.
    """

    name: str
    dense_bits: float
    outlier_fraction: float = 0.0  # share of elements also stored as sparse entries
    outlier_entry_bits: float = 0.0  # bits per sparse entry (index, value or value bits)
    metadata_bits_per_vector: float = 0.0  # scales, zero points, min/max per token vector

    def __post_init__(self) -> None:
        if not 0 < self.dense_bits <= 16:
            raise InvalidSpec("kv.dense_bits", f"must be in (0, 16], got {self.dense_bits}")
        if not 0 <= self.outlier_fraction < 1:
            raise InvalidSpec("kv.outlier_fraction", f"must be in [0, 1), got {self.outlier_fraction}")

    def bits_per_elem(self, n_elems: int) -> float:
        """Effective bits per element for vectors of n elements, everything counted."""
        sparse = self.outlier_fraction * self.outlier_entry_bits
        return self.dense_bits + sparse + self.metadata_bits_per_vector / n_elems

    def bytes_per_vector(self, n_elems: int) -> float:
        return n_elems * self.bits_per_elem(n_elems) / 8

    def dense_bytes_per_vector(self, n_elems: int) -> float:
        """Dense codes and metadata: the part that streams in long bursts."""
        return (n_elems * self.dense_bits + self.metadata_bits_per_vector) / 8

    def sparse_bytes_per_vector(self, n_elems: int) -> float:
        """Sparse outlier entries (e.g. Oaken's COO), which a codec may keep in separate pages."""
        return n_elems * self.outlier_fraction * self.outlier_entry_bits / 8

    @property
    def quantized(self) -> bool:
        return self.dense_bits < 16


WEIGHT_SCHEMES: dict[str, WeightScheme] = {
    "fp16": WeightScheme("fp16", 16),
    "int8": WeightScheme("int8", 8, group_size=4096),  # per-output-channel scales over a 4K row
    "int4": WeightScheme("int4", 4, group_size=128),  # group-wise, as AWQ/GPTQ ship them
}

# Byte costs as the encoders in twin/quant/algos measure them on encoded tensors
# (tests/twin/quant check each against its encoder's storage_bits).
KV_SCHEMES: dict[str, KvScheme] = {
    "fp16": KvScheme("fp16", 16),
    # per-token INT8 / INT4 with an FP16 scale and zero point per vector
    "int8": KvScheme("int8", 8, metadata_bits_per_vector=2 * 16),
    "int4": KvScheme("int4", 4, metadata_bits_per_vector=2 * 16),
    # Oaken (ISCA'25): 4-bit dense matrix, 10 % inner+outer entries as 8-bit COO,
    # per-token min/max of 3 groups in FP16 (96 bits): 4.82 / 4.82 / 4.89 effective bits
    "oaken": KvScheme("oaken", 4, outlier_fraction=0.10, outlier_entry_bits=8, metadata_bits_per_vector=96),
    # KIVI-4 (group 128, 128 FP16 residual tokens): 4.25 + 1504/L bits; folded at L = 2048
    "kivi": KvScheme("kivi", 4.984375),
    "kivi2": KvScheme("kivi2", 3.109375),  # KIVI's native 2-bit, same folding
    # KVQuant-style NUQ4 with 1 % FP16 outliers (value + 16-bit index) and row pointers
    "kvquant": KvScheme("kvquant", 4, outlier_fraction=0.01, outlier_entry_bits=32, metadata_bits_per_vector=48),
    # QServe-style per-token KV4 and Atom-style group-128 KV4: FP16 scale+zero per 128 elements
    "qserve": KvScheme("qserve", 4.25),
    "atom": KvScheme("atom", 4.25),
}


def weight_scheme(name: str) -> WeightScheme:
    if name not in WEIGHT_SCHEMES:
        raise UnknownName("weight scheme", name, list(WEIGHT_SCHEMES))
    return WEIGHT_SCHEMES[name]


def kv_scheme(name: str) -> KvScheme:
    if name not in KV_SCHEMES:
        raise UnknownName("KV scheme", name, list(KV_SCHEMES))
    return KV_SCHEMES[name]


@dataclass(frozen=True)
class QuantPolicy:
    """A weight scheme and a KV scheme; memory planning and the cost model use both."""

    weights: WeightScheme = WEIGHT_SCHEMES["fp16"]
    kv: KvScheme = KV_SCHEMES["fp16"]
    layer_kv: tuple[KvScheme, ...] = ()  # one scheme per decoder layer, overriding `kv`

    def kv_mean(self, per_scheme) -> float:
        """The mean over decoder layers of `per_scheme(scheme)` (layers run back to back)."""
        schemes = self.layer_kv or (self.kv,)
        return sum(per_scheme(s) for s in schemes) / len(schemes)

    @property
    def quantized_kv_share(self) -> float:
        """Share of layers whose KV is quantized (and so passes through a codec)."""
        return self.kv_mean(lambda s: 1.0 if s.quantized else 0.0)

    @classmethod
    def named(cls, weights: str = "fp16", kv: str = "fp16") -> "QuantPolicy":
        return cls(weight_scheme(weights), kv_scheme(kv))

    @property
    def label(self) -> str:
        kv = "per-layer" if self.layer_kv else self.kv.name
        return f"w:{self.weights.name}/kv:{kv}"
