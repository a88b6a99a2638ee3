"""KIVI (Liu et al., "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache",
ICML'24): keys per channel, values per token, recent tokens kept in FP16.

- Keys: each channel is quantized in groups of `group` consecutive tokens, because key
  outliers sit in fixed channels and a per-channel range isolates them.
- Values: each token is quantized in groups of `group` channels (per-token error stays
  local to that token's attention output).
- Residual: the newest `residual` tokens stay FP16; for keys the tokens that do not
  fill a whole token group stay FP16 too, since a channel group needs `group` tokens.
- Stored per group: FP16 scale and zero (4 + 32/128 = 4.25 bits for quantized tokens).

KIVI is natively 2-bit; the Oaken comparison ran it at 4 bits (K4/V4, group 128,
residual 128), reported as 4.99 effective bits, which is what a 2,048-token tensor
gives: (1920 x 4.25 + 128 x 16) / 2048 = 4.98.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.errors import InvalidSpec
from twin.quant.algos.base import Encoded, KvEncoder, Part, Stored, as_matrix, check_kind
from twin.quant.algos.uniform import asym_dequantize, channel_groups, quantize_along, token_groups

KIVI_GROUP = 128
KIVI_RESIDUAL = 128


@dataclass(frozen=True)
class Kivi(KvEncoder):
    kind: str  # "k": per-channel groups of tokens; "v": per-token groups of channels
    bits: int = 4
    group: int = KIVI_GROUP
    residual: int = KIVI_RESIDUAL

    def __post_init__(self) -> None:
        check_kind(self.kind)
        if self.bits not in (2, 4, 8) or self.group < 1 or self.residual < 0:
            raise InvalidSpec("kivi", f"bits in (2, 4, 8), group >= 1, residual >= 0; got {self}")

    @property
    def name(self) -> str:
        return f"kivi{self.bits}"

    def quantized_tokens(self, tokens: int) -> int:
        """How many of the oldest tokens are quantized; the rest stay FP16."""
        old = max(tokens - self.residual, 0)
        return old // self.group * self.group if self.kind == "k" else old

    def _grouped(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """The quantized block viewed as groups, and the axis a group runs along."""
        if self.kind == "k":
            return channel_groups(x, self.group), 1
        return token_groups(x, self.group), 2

    def encode(self, x: np.ndarray) -> Encoded:
        x = as_matrix(x)
        tq = self.quantized_tokens(x.shape[0])
        fields = {"residual": Stored(x[tq:].astype(np.float16), 16, Part.DENSE)}
        if tq:
            groups, axis = self._grouped(x[:tq])
            codes, scale, zero = quantize_along(groups, axis, self.bits)
            fields["codes"] = Stored(codes.reshape(tq, -1), self.bits, Part.DENSE)
            fields["scale"] = Stored(np.squeeze(scale, axis), 16, Part.META)
            fields["zero"] = Stored(np.squeeze(zero, axis), 16, Part.META)
        return Encoded(self.name, x.shape, fields)

    def decode(self, enc: Encoded) -> np.ndarray:
        tq = self.quantized_tokens(enc.shape[0])
        out = np.empty(enc.shape, np.float32)
        out[tq:] = enc["residual"]
        if tq:
            groups, axis = self._grouped(enc["codes"])
            scale = np.expand_dims(enc["scale"], axis)
            zero = np.expand_dims(enc["zero"], axis)
            out[:tq] = asym_dequantize(groups, scale, zero).reshape(tq, -1)
        return out
