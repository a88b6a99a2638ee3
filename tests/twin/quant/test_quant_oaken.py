"""Oaken: effective bits from the encoder's own output, groups, thresholds, exact layout."""

from __future__ import annotations

import numpy as np
import pytest

from twin.quant.activations import SyntheticKv, synthetic_kv
from twin.quant.algos import Oaken, OakenThresholds, effective_bits, group_shares, profile_thresholds, scheme_terms
from twin.quant.algos.oaken import INNER, MIDDLE, OUTER, classify
from twin.quant.algos.oaken_coo import MAX_STRIDE, pack_entries, unpack_entries

# Oaken Table 2 effective bits, with each model's K/V vector length (kv_heads x head_dim).
TABLE2 = [("llama2-7b", 32 * 128, 4.82), ("llama2-13b", 40 * 128, 4.82), ("llama2-70b", 8 * 128, 4.89)]


@pytest.mark.parametrize("model, n, published", TABLE2)
def test_effective_bits_reproduce_table2(layer_data, model, n, published):
    bits = []
    for kind in "kv":
        calibration, x = layer_data(n, kind)
        enc = Oaken.profile(calibration).encode(x)
        bits.append(effective_bits(enc))
        terms = scheme_terms(enc)
        assert terms["dense_bits"] == 4 and terms["outlier_entry_bits"] == 8
        assert terms["metadata_bits_per_vector"] == 96  # 3 groups x (min, max) x FP16
        assert terms["outlier_fraction"] == pytest.approx(0.10, abs=0.005)
    assert np.mean(bits) == pytest.approx(published, abs=0.05), f"{model}: {bits}"


@pytest.mark.parametrize("kind", "kv")
def test_group_shares_on_profiled_data(layer_data, kind):
    calibration, x = layer_data(4096, kind)
    shares = group_shares(x, profile_thresholds(calibration))
    assert shares["outer"] == pytest.approx(0.04, abs=0.005)
    assert shares["middle"] == pytest.approx(0.90, abs=0.005)
    assert shares["inner"] == pytest.approx(0.06, abs=0.005)


def test_thresholds_reproducible_from_seed():
    def profile(seed):
        spec = SyntheticKv(channels=1024, seed=seed)
        return profile_thresholds(synthetic_kv(spec, "k", 64, batch=b).values for b in range(3))

    assert profile(7) == profile(7)
    other = profile(8)
    assert other != profile(7)
    t = profile(7)
    assert t.outer_lo < t.inner_lo <= t.inner_hi < t.outer_hi


def test_thresholds_are_averaged_quantiles():
    batches = [np.arange(1000, dtype=np.float32).reshape(10, 100), np.arange(1000, 2000, dtype=np.float32).reshape(10, 100)]
    t = profile_thresholds(batches)
    # per batch: q(0.02) lower = 19, q(0.47) lower = 469, q(0.53) higher = 530, q(0.98) higher = 980
    assert (t.outer_lo, t.inner_lo, t.inner_hi, t.outer_hi) == (519.0, 969.0, 1030.0, 1480.0)


def _reference_entries(enc) -> dict[int, tuple[int, int]]:
    """flat position -> (outer bit, bit 7), read from the documented 8-bit entry layout."""
    entries, pos = {}, -1
    for e in enc["entries"].tolist():
        pos += (e & 0b111111) + 1  # bits 5..0: gap since the previous entry
        entries[pos] = ((e >> 6) & 1, (e >> 7) & 1)  # bit 6: outer group; bit 7: side / 5th bit
    return entries


def _reference_decode(enc) -> np.ndarray:
    """Element-by-element decoder written from the documented layout, not from the encoder."""
    f32 = np.float32
    t, mm, entries = enc["thresholds"].astype(f32), enc["minmax"].astype(f32), _reference_entries(enc)
    tokens, n = enc.shape
    out = np.zeros(enc.shape, f32)
    for tok in range(tokens):
        for ch in range(n):
            c, (lo, hi) = int(enc["codes"][tok, ch]), mm[tok, MIDDLE]
            outer, bit7 = entries.get(tok * n + ch, (None, None))
            if outer is None:
                s = lo + f32(c) * ((hi - lo) / f32(15))
                out[tok, ch] = s + (t[2] if s >= 0 else t[1])
            elif outer and bit7:
                out[tok, ch] = t[0] - f32(c) * (-mm[tok, OUTER, 0] / f32(15))
            elif outer:
                out[tok, ch] = t[3] + f32(c) * (mm[tok, OUTER, 1] / f32(15))
            else:
                lo, hi = mm[tok, INNER]
                out[tok, ch] = lo + f32(c | bit7 << 4) * ((hi - lo) / f32(31))
    return out


def test_decode_follows_documented_layout(layer_data):
    calibration, x = layer_data(256, "k", tokens=6)
    oaken = Oaken.profile(calibration)
    enc = oaken.encode(x)
    np.testing.assert_allclose(oaken.decode(enc), _reference_decode(enc), rtol=0, atol=1e-6)


def test_error_within_one_step_of_each_group(layer_data):
    calibration, x = layer_data(1024, "v", tokens=64)
    oaken = Oaken.profile(calibration)
    enc, y = oaken.round_trip(x)
    groups = classify(x, oaken.thresholds.as_fp16().astype(np.float32))
    fillers = np.zeros(x.size, bool)
    fillers[unpack_entries(enc["entries"])[0]] = True
    fillers = fillers.reshape(x.shape) & (groups == MIDDLE)  # entries the grouping did not ask for
    mm = enc["minmax"].astype(np.float32)
    width = mm[:, :, 1] - mm[:, :, 0]
    extent = np.abs(mm[:, OUTER, :]).max(axis=1)
    err, tol = np.abs(y - x), 1e-5
    # Middle: half a step, or one step where sign-consistent rounding moved the code.
    bound = {MIDDLE: width[:, MIDDLE] / 15, INNER: width[:, INNER] / 62, OUTER: extent / 30}
    for g, b in bound.items():
        member = (groups == g) & ~fillers
        assert (err <= b[:, None] + tol)[member].all(), g
    assert fillers.sum() <= 0.001 * x.size


def test_long_middle_runs_get_fillers_and_stay_decodable():
    thresholds = OakenThresholds(-2.0, -0.1, 0.1, 2.0)
    x = np.full((2, 256), 0.5, np.float32)  # all middle: every entry is a filler
    x[0, 10] = 3.0  # one outer value
    x[1, 200] = 0.0  # one inner value
    x[0, 100] = 0.45  # the cheapest filler candidate of its block
    oaken = Oaken(thresholds)
    enc = oaken.encode(x)
    positions, _, _ = unpack_entries(enc["entries"])
    assert np.diff(positions, prepend=-1).max() <= MAX_STRIDE
    assert 100 in positions
    assert enc.n_entries > 2
    np.testing.assert_allclose(oaken.decode(enc), _reference_decode(enc), rtol=0, atol=1e-6)


def test_entry_pack_round_trip_is_exact():
    rng = np.random.default_rng(0)
    positions = np.cumsum(rng.integers(1, MAX_STRIDE + 1, 500)) - 1
    outer, top = rng.random(500) < 0.4, rng.random(500) < 0.5
    back = unpack_entries(pack_entries(positions, outer, top))
    for a, b in zip(back, (positions, outer, top)):
        np.testing.assert_array_equal(a, b)


def test_minilm_groups_and_bits(minilm_kv):
    """On a real model (all-MiniLM-L6-v2, n = 384), profiled thresholds still split 4/90/6."""
    for layer in (0, 5):
        for ki in (0, 1):
            calibration = [minilm_kv[b][layer][ki].values for b in range(4)]
            x = np.concatenate([minilm_kv[b][layer][ki].values for b in (4, 5)])
            oaken = Oaken.profile(calibration)
            shares = group_shares(x, oaken.thresholds)
            assert shares["outer"] + shares["inner"] == pytest.approx(0.10, abs=0.03)
            assert effective_bits(oaken.encode(x)) == pytest.approx(4 + 8 * 0.10 + 96 / 384, abs=0.3)
