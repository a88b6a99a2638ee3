"""Activation sources: the synthetic generator's structure and the real MiniLM forward pass."""

from __future__ import annotations

import json
import struct

import numpy as np

from twin.quant.activations import MINILM_SOURCE, SyntheticKv, read_safetensors, synthetic_kv, wordpiece


def test_synthetic_is_seeded_and_fp16():
    spec = SyntheticKv(channels=512, seed=3)
    a, b = synthetic_kv(spec, "k", 32), synthetic_kv(spec, "k", 32)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.source == "synthetic" and a.values.shape == (32, 512)
    np.testing.assert_array_equal(a.values, a.values.astype(np.float16).astype(np.float32))
    assert not np.array_equal(a.values, synthetic_kv(spec, "k", 32, batch=1).values)


def test_synthetic_structure():
    spec = SyntheticKv(channels=1024)
    k = synthetic_kv(spec, "k", 512).values
    spread = k.std(axis=0)
    # 1 % of the channels (10 of 1024) have a much larger spread, in the same place in every batch.
    outliers = np.argsort(spread)[-10:]
    assert spread[outliers].min() > 3 * np.median(spread)
    k2 = synthetic_kv(spec, "k", 512, batch=5).values
    assert set(np.argsort(k2.std(axis=0))[-10:]) == set(outliers)
    # Heavy tails and extra mass near zero, compared with a Gaussian of the same spread.
    z = (k - k.mean(axis=0)) / k.std(axis=0)
    assert np.mean(z**4) > 3.5
    assert np.mean(np.abs(z) < 0.05) > 0.05


def test_safetensors_reader(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1.5, -2], np.float16)
    header = {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "b": {"dtype": "F16", "shape": [2], "data_offsets": [24, 28]}, "__metadata__": {}}
    blob = json.dumps(header).encode()
    (tmp_path / "t.safetensors").write_bytes(struct.pack("<Q", len(blob)) + blob + a.tobytes() + b.tobytes())
    out = read_safetensors(tmp_path / "t.safetensors")
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["b"], b)


def test_wordpiece():
    vocab = {t: i for i, t in enumerate(["[UNK]", "un", "##aff", "##able", "the", ",", "cafe"])}
    assert wordpiece("The unaffable, Café xyz", vocab) == [4, 1, 2, 3, 5, 6, 0]


def test_minilm_matches_published_similarities(minilm):
    """sbert.net's Semantic Textual Similarity example prints these all-MiniLM-L6-v2 scores."""
    left = ["The new movie is awesome", "The cat sits outside", "A man is playing guitar"]
    right = ["The dog plays in the garden", "The new movie is so great", "A woman watches TV"]
    published = [[0.0543, 0.8939, -0.0502], [0.2838, -0.0029, 0.1310], [0.2277, -0.0136, -0.0327]]
    sims = np.array([minilm.embed(s) for s in left]) @ np.array([minilm.embed(s) for s in right]).T
    np.testing.assert_allclose(sims, published, atol=1e-3)


def test_minilm_kv_shapes(minilm_kv):
    layers = minilm_kv[0]
    assert len(layers) == 6
    k, v = layers[3]
    assert (k.kind, v.kind, k.layer, k.source) == ("k", "v", 3, MINILM_SOURCE)
    assert k.values.shape == v.values.shape == (128, 384)
    assert not np.array_equal(minilm_kv[0][0][0].values, minilm_kv[1][0][0].values)
