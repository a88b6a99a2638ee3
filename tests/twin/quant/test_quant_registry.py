"""The KV scheme registry prices what the encoders actually store.

`KV_SCHEMES[name].bits_per_elem(n)` is what memory planning and the cost model charge
for a K or V element; the encoder of the same scheme, run on a seeded synthetic tensor
with the model's kv_dim, measures its bits from the arrays it stored. The two must
agree. The cost model charges K and V together (2 x bytes_per_vector), so the registry
constant is compared with the mean of the K and V measurements.

Tolerances, and why:
- int8, int4, qserve, atom: exact (1e-9). Their layout is fixed per vector (codes plus
  FP16 scale and zero per token or per 128-channel group); nothing depends on the data.
- kivi, kivi2: exact at a 2,048-token tensor. KIVI's FP16 residual (the newest 128
  tokens) makes its cost depend on context length (4.25 + 1504/L bits at KV4); the
  registry folds it at L = 2048, the context the artifact's 4.99 implies.
- oaken: 0.01. The profiled thresholds put 10 % of profiling values in the inner and
  outer groups, but the share on a held-out tensor drifts by a few tenths of a percent
  (8 bits per entry), and the 64-bit threshold table per tensor is not in the constant.
- kvquant: 0.01 on 2,048 tokens. K is normalized per channel: its FP16 centre and
  half-range are stored once per channel for the whole tensor (32/L bits per element,
  0.0156 at L = 2048, half of it in the K/V mean), which a per-vector constant cannot
  hold; and 1 % outliers per channel of L tokens round to whole entries.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from twin.catalog import load_model
from twin.quant.activations import SyntheticKv, synthetic_kv
from twin.quant.algos import ENCODER_OF_SCHEME, effective_bits, make_encoder, scheme_terms
from twin.quant.schemes import KV_SCHEMES

# registry name -> (encoder name, tokens in the test tensor, tolerance in bits)
ENCODER_OF = {
    "int8": ("int8", 256, 1e-9),
    "int4": ("int4_token", 256, 1e-9),
    "qserve": ("qserve4", 256, 1e-9),
    "atom": ("atom4", 256, 1e-9),
    "kivi": ("kivi4", 2048, 1e-9),
    "kivi2": ("kivi2", 2048, 1e-9),
    "oaken": ("oaken", 256, 0.01),
    "kvquant": ("kvquant4", 2048, 0.01),
}
MODELS = ("llama2-7b", "llama2-70b")  # kv_dim 4096 (MHA) and 1024 (GQA): metadata weighs differently
SEED = 7


@lru_cache(maxsize=None)
def _tensor(n: int, kind: str) -> np.ndarray:
    """The held-out tensor of one synthetic layer, 2,048 tokens (cached: generating it dominates)."""
    return synthetic_kv(SyntheticKv(channels=n, seed=SEED), kind, 2048, batch=1000).values


def _calibration(n: int, kind: str) -> list[np.ndarray]:
    """Profiling batches of the same layer (Oaken's thresholds, QServe's key smoothing)."""
    return [synthetic_kv(SyntheticKv(channels=n, seed=SEED), kind, 128, batch=b).values for b in range(4)]


@lru_cache(maxsize=None)
def _measured(scheme: str, n: int, kind: str):
    encoder, tokens, _ = ENCODER_OF[scheme]
    return make_encoder(encoder, kind, _calibration(n, kind)).encode(_tensor(n, kind)[:tokens])


def test_every_quantized_scheme_has_an_encoder_check():
    """A scheme added to the registry without an encoder would be priced by an unchecked constant."""
    assert set(KV_SCHEMES) - {"fp16"} == set(ENCODER_OF)
    assert {name: enc for name, (enc, _, _) in ENCODER_OF.items()} == ENCODER_OF_SCHEME
    assert KV_SCHEMES["fp16"].bits_per_elem(4096) == 16


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("scheme", sorted(ENCODER_OF))
def test_registry_bits_equal_the_encoders_measured_bits(scheme, model):
    n = load_model(model).kv_dim
    measured = [effective_bits(_measured(scheme, n, kind)) for kind in "kv"]
    tolerance = ENCODER_OF[scheme][2]
    assert np.mean(measured) == pytest.approx(KV_SCHEMES[scheme].bits_per_elem(n), abs=tolerance), measured


@pytest.mark.parametrize("model", MODELS)
def test_kvquant_gap_is_the_per_channel_key_normalizers(model):
    """Take the K normalizers (a per-tensor table) out and kvquant agrees to outlier rounding only."""
    n = load_model(model).kv_dim
    terms = {kind: scheme_terms(_measured("kvquant", n, kind)) for kind in "kv"}
    assert terms["k"]["table_bits_per_elem"] == pytest.approx(32 / 2048, rel=0.01)
    per_vector = [effective_bits(_measured("kvquant", n, kind)) - terms[kind]["table_bits_per_elem"]
                  for kind in "kv"]
    # What remains differs only by whole-entry rounding of 1 % per vector (< 0.5 entry x 32 bits).
    assert np.mean(per_vector) == pytest.approx(KV_SCHEMES["kvquant"].bits_per_elem(n), abs=16 / 2048 + 16 / n)
