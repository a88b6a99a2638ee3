"""One table of serving fields (twin.serving.fields): ServingConfig, the CLI, the proto and the sweep axes all
come from it, so a field added in one place and not the others fails here."""

from __future__ import annotations

import dataclasses

import pytest

from twin.config import ServingConfig
from twin.errors import InvalidSpec
from twin.explore.sweep import sweep_points
from twin.replay import RunSpec
from twin.serving.fields import BY_NAME, FIELDS, SWEEPABLE


def test_the_table_and_serving_config_name_the_same_fields() -> None:
    assert [f.name for f in FIELDS] == [f.name for f in dataclasses.fields(ServingConfig)]


def test_every_choice_in_the_table_is_enforced_by_serving_config() -> None:
    for f in FIELDS:
        for word in f.choices:
            extra = {"prefix_cache": "lru"} if word == "prefix-affinity" else {}
            ServingConfig(**{f.name: word, **extra})  # each listed word is accepted
        if f.choices:
            with pytest.raises(InvalidSpec) as err:
                ServingConfig(**{f.name: "no-such-word"})
            assert err.value.field == f.name


def test_the_proto_carries_every_field_of_the_table() -> None:
    from twin_api.v1 import common_pb2
    proto = {f.name for f in common_pb2.ServingConfig.DESCRIPTOR.fields}
    assert {f.name for f in FIELDS} <= proto


def test_the_cli_has_a_flag_for_every_field_with_one() -> None:
    from services.cli import cli
    params = {p.name: p for p in cli.commands["replay"].params}
    for f in FIELDS:
        if f.cli_flag is not None:
            assert f.cli_flag in params[f.name].opts, f.name
    assert params["policy"].opts == ["--scheduler"]


def test_architecture_fields_sweep_and_none_unsets_an_optional_one() -> None:
    assert {"pd", "prefill_server", "speculative", "prefix_cache", "draft_model"} <= set(SWEEPABLE)
    base = RunSpec("lpu-8x-4nm", "llama2-7b", servers=2, tp=8)
    points = sweep_points(base, [("pd", ["none", "1:1"]), ("prefix_cache", ["none", "lru"])], 16)
    assert [(p.values["pd"], p.values["prefix_cache"]) for p in points] == \
        [(None, "none"), (None, "lru"), ("1:1", "none"), ("1:1", "lru")]
    assert [p.spec.serving.pd for p in points] == [None, None, "1:1", "1:1"]
    assert all(not p.error for p in points)
    assert not BY_NAME["max_batch"].optional  # "none" is not a batch size
    with pytest.raises(InvalidSpec, match="whole numbers"):
        sweep_points(base, [("max_batch", ["none"])], 16)
