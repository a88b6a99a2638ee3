"""Baseline KV encoders: effective bits against the Oaken artifact's figures, and round trips.

Tolerances, and why:
- QServe 4.25 and Atom 4.25 (Llama2-7B/13B): group-128 FP16 scale+zero is exactly
  4 + 32/128, so 0.005 (no amortized term is involved).
- Atom on Llama2-70B: the artifact's 4.63 does not follow from group-128 storage; the
  encoder gives 4.25 and the test pins that, documenting the gap instead of fitting it.
- KIVI 4.99: depends on context length through the FP16 residual; at the 2,048-token
  context the figure implies, the encoder gives 4.984, so 0.02.
- KVQuant 4.82 / 4.81 / 5.01: the artifact's accounting is not published (it implies
  ~0.76 bits/elem of sparse cost plus ~256 bits per vector); the encoder's own count
  (FP16 value + 16-bit index per 1 % outlier, 32-bit row pointers) is ~4.34 and sits
  below every artifact figure. The test checks the encoder against its own formula.
"""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import InvalidSpec, UnknownName
from twin.quant.activations import SyntheticKv, synthetic_kv
from twin.quant.algos import ENCODERS, Kivi, KvQuant, effective_bits, make_encoder, scheme_terms
from twin.quant.algos.atom import atom_encoder
from twin.quant.algos.kvquant import normal_codebook
from twin.quant.algos.token_group import int8_per_token

LLAMA2 = {"llama2-7b": 4096, "llama2-13b": 5120, "llama2-70b": 1024}


def _x(n: int, kind: str = "v", tokens: int = 64, batch: int = 0) -> np.ndarray:
    """Batch `batch` of one synthetic layer (calibration uses other batches of the same layer)."""
    return synthetic_kv(SyntheticKv(channels=n), kind, tokens, batch=batch).values


@pytest.mark.parametrize("n", LLAMA2.values())
def test_int8_is_8_bits_plus_fp16_scale_and_zero(n):
    assert effective_bits(int8_per_token().encode(_x(n))) == pytest.approx(8 + 32 / n, abs=1e-12)


@pytest.mark.parametrize("name", ["qserve4", "atom4"])
@pytest.mark.parametrize("model, n", LLAMA2.items())
def test_group128_schemes_cost_4_25(name, model, n):
    calibration = [_x(n, "k", batch=1)]
    for kind in "kv":
        enc = make_encoder(name, kind, calibration).encode(_x(n, kind))
        assert effective_bits(enc) == pytest.approx(4.25, abs=0.005), (model, kind)
    # Artifact: QServe 4.25 everywhere; Atom 4.25 / 4.25 / 4.63 (70B not reproduced).


def test_kivi4_at_2048_tokens_matches_artifact():
    for kind in "kv":
        enc = Kivi(kind, bits=4).encode(_x(4096, kind, tokens=2048))
        assert effective_bits(enc) == pytest.approx(4.99, abs=0.02)
        assert effective_bits(enc) == pytest.approx((1920 * 4.25 + 128 * 16) / 2048, abs=1e-9)


def test_kivi2_native_width():
    enc = Kivi("k", bits=2).encode(_x(1024, "k", tokens=2048))
    assert effective_bits(enc) == pytest.approx((1920 * 2.25 + 128 * 16) / 2048, abs=1e-9)


@pytest.mark.parametrize("kind", "kv")
def test_kivi_residual_tokens_are_exact(kind):
    x = _x(256, kind, tokens=300)
    kivi = Kivi(kind, bits=4)
    y = kivi.decode(kivi.encode(x))
    tq = kivi.quantized_tokens(300)
    assert tq == (172 // 128 * 128 if kind == "k" else 172)
    np.testing.assert_array_equal(y[tq:], x[tq:])
    assert np.abs(y[:tq] - x[:tq]).max() > 0


@pytest.mark.parametrize("kind", "kv")
def test_kvquant_outliers_are_lossless(kind):
    x = _x(1024, kind, tokens=256)
    kvq = KvQuant(kind)
    enc = kvq.encode(x)
    y = kvq.decode(enc)
    rows = np.repeat(np.arange(256), np.diff(enc["row_ptr"].astype(np.int64)))
    np.testing.assert_array_equal(y[rows, enc["cols"]], x[rows, enc["cols"]])
    assert enc.n_entries == (round(0.01 * 256) * 1024 if kind == "k" else round(0.01 * 1024) * 256)
    # Non-outliers: within half the widest gap between codebook levels of their vector's range.
    gap = np.diff(normal_codebook().astype(np.float32)).max() / 2
    half = enc["half"].astype(np.float32).reshape((1, -1) if kind == "k" else (-1, 1))
    assert (np.abs(y - x) <= gap * half + 1e-5).all()


@pytest.mark.parametrize("model, n", LLAMA2.items())
def test_kvquant_bits_follow_its_own_layout(model, n):
    tokens = 256
    v = effective_bits(KvQuant("v").encode(_x(n, "v", tokens)))
    k = effective_bits(KvQuant("k").encode(_x(n, "k", tokens)))
    # Each outlier: FP16 value + 16-bit index; round(1 % of the vector) per vector.
    v_entries, k_entries = round(0.01 * n) / n * 32, round(0.01 * tokens) / tokens * 32
    row_ptr = 32 * (tokens + 1) / (tokens * n)
    codebook = 16 * 16 / (tokens * n)
    assert v == pytest.approx(4 + v_entries + row_ptr + 32 / n + codebook, rel=1e-12)
    assert k == pytest.approx(4 + k_entries + row_ptr + 32 / tokens + codebook, rel=1e-12)
    published = {"llama2-7b": 4.82, "llama2-13b": 4.81, "llama2-70b": 5.01}[model]
    assert max(k, v) < published  # see the module docstring


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_encoder_round_trips_within_its_precision(name):
    calibration = [_x(512, "k", tokens=128, batch=b) for b in (1, 2)]
    x = _x(512, "k", tokens=256)
    enc, y = make_encoder(name, "k", calibration).round_trip(x)
    assert y.shape == x.shape and y.dtype == np.float32
    rel = np.mean((y - x) ** 2) / np.mean(x**2)
    assert rel < {"int8": 1e-3, "kivi2": 0.5, "int4_token": 0.6}.get(name, 0.05)
    terms = scheme_terms(enc)
    recomposed = (terms["dense_bits"] + terms["outlier_fraction"] * terms["outlier_entry_bits"]
                  + terms["metadata_bits_per_vector"] / terms["n_elems_per_vector"] + terms["table_bits_per_elem"])
    assert recomposed == pytest.approx(effective_bits(enc), rel=1e-12)


def test_asymmetric_codes_stay_within_half_a_step():
    enc = atom_encoder().encode(x := _x(256, "v", tokens=32))
    y = atom_encoder().decode(enc)
    scale = np.repeat(enc["scale"].astype(np.float32), 128, axis=1)
    assert (np.abs(y - x) <= scale / 2 + 1e-6).all()


def test_registry_rejects_unknown_names_and_kinds():
    with pytest.raises(UnknownName):
        make_encoder("nope", "k")
    with pytest.raises(InvalidSpec):
        make_encoder("kivi4", "q")
    with pytest.raises(InvalidSpec):
        make_encoder("oaken", "k")  # Oaken cannot run without profiling
