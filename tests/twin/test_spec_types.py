"""Spec fields built from YAML hold the type their annotation names: a bool is not a whole number,
32.5 layers is not a model, NaN is not a size, and a 5,000-digit number is described, not echoed."""

from __future__ import annotations

import pytest
import yaml

from twin.catalog import Catalog
from twin.catalog.hf import model_from_hf_config
from twin.config import ModelSpec, build_spec
from twin.errors import InvalidSpec


def _opt(**changes) -> dict:
    return {**yaml.safe_load(Catalog().entry("models", "opt-1.3b").text), **changes}


@pytest.mark.parametrize("changes, message", [
    (dict(layers=True), "m.layers: must be a whole number (at most 2**53), got True"),
    (dict(layers=32.5), "m.layers: must be a whole number (at most 2**53), got 32.5"),
    (dict(layers=10 ** 5000), "m.layers: must be a whole number (at most 2**53), got a number of more than 4,300 digits"),
    (dict(sliding_window=-1), "m.sliding_window: must be a positive number, got -1"),
    (dict(sliding_window="abc"), "m.sliding_window: must be a whole number (at most 2**53) or null, got 'abc'"),
    (dict(published_params_b=float("nan")), "m.published_params_b: must be a finite number, got nan"),
    (dict(published_params_b=-1.0), "m.published_params_b: must be a finite number >= 0, got -1.0"),
    (dict(family=[1]), "m.family: must be text, got [1]"),
    (dict(tied_embeddings="yes"), "m.tied_embeddings: must be true or false, got 'yes'"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_the_field(changes, message) -> None:
    with pytest.raises(InvalidSpec) as err:
        build_spec(ModelSpec, _opt(**changes), "m")
    assert str(err.value) == message


def test_whole_numbers_are_accepted_for_float_fields_and_null_for_optional_ones() -> None:
    spec = build_spec(ModelSpec, _opt(published_params_b=1, sliding_window=None), "m")
    assert spec.published_params_b == 1 and spec.sliding_window is None


@pytest.mark.parametrize("experts", ["8", [8], True])
def test_hf_experts_of_the_wrong_type_are_refused(experts) -> None:
    cfg = {"model_type": "mixtral", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 8,
           "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 64, "num_local_experts": experts}
    with pytest.raises(InvalidSpec, match="^c.json: num_local_experts: must be a whole number"):
        model_from_hf_config(cfg, "x", "c.json")
