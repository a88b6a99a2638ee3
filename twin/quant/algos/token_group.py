"""Per-token asymmetric quantization in groups of channels (or the whole token vector).

This is the common core of several schemes:
- per-token INT8 / INT4 (one group = the whole K or V vector of a token),
- Atom's KV4 (Zhao et al., MLSys'24: asymmetric, group 128 = one head),
- QServe's KV4 after SmoothAttention (Lin et al., 2024: per token, per head).

Stored per group: an FP16 scale and an FP16 zero point (32 metadata bits per group).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.errors import InvalidSpec
from twin.quant.algos.base import Encoded, KvEncoder, Part, Stored, as_matrix
from twin.quant.algos.uniform import asym_dequantize, quantize_along, token_groups


@dataclass(frozen=True)
class TokenGroupEncoder(KvEncoder):
    """`bits`-bit codes with an FP16 scale and zero per `group` channels of each token.

    `group=None` means one group per token vector (plain per-token quantization).
    """

    name: str
    bits: int
    group: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= 8:
            raise InvalidSpec("bits", f"must be in 1..8, got {self.bits}")
        if self.group is not None and self.group < 1:
            raise InvalidSpec("group", f"must be positive, got {self.group}")

    def _groups(self, x: np.ndarray) -> np.ndarray:
        return token_groups(x, self.group or x.shape[1])

    def encode(self, x: np.ndarray) -> Encoded:
        x = as_matrix(x)
        codes, scale, zero = quantize_along(self._groups(x), axis=2, bits=self.bits)
        return Encoded(
            self.name,
            x.shape,
            {
                "codes": Stored(codes.reshape(x.shape), self.bits, Part.DENSE),
                "scale": Stored(scale[..., 0], 16, Part.META),  # (tokens, groups)
                "zero": Stored(zero[..., 0], 16, Part.META),
            },
        )

    def decode(self, enc: Encoded) -> np.ndarray:
        codes = self._groups(enc["codes"])
        return asym_dequantize(codes, enc["scale"][..., None], enc["zero"][..., None]).reshape(enc.shape)


def int8_per_token() -> TokenGroupEncoder:
    """INT8 per token, FP16 scale + zero: 8 + 32/n bits per element."""
    return TokenGroupEncoder("int8", bits=8)


def int4_per_token() -> TokenGroupEncoder:
    """Plain per-token 4-bit: the baseline Oaken's grouping has to beat."""
    return TokenGroupEncoder("int4_token", bits=4)
