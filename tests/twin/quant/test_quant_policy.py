"""Quantization policies: validation, per-layer costs, and adaptive switching during a run."""

from __future__ import annotations

import pytest

from twin.errors import InvalidSpec, UnknownName
from twin.quant.policy import policy_from_dict
from twin.quant.schemes import KV_SCHEMES
from twin.replay import RunSpec, replay
from twin.traces import TraceOptions, load_trace


@pytest.mark.parametrize("data,field", [
    ({"rules": [{"when": "temperature", "above": 1, "kv": "oaken"}]}, "rules[0].when"),
    ({"rules": [{"when": "kv_occupancy", "above": 1.5, "kv": "oaken"}]}, "rules[0].above"),
    ({"rules": [{"when": "kv_occupancy"}]}, "rules[0]"),
    ({"layers": [{"first": 3, "last": 1, "kv": "oaken"}]}, "layers[0]"),
    ({"kvv": "oaken"}, "policy.kvv"),
    ({"serving": {"max_context": 8192}}, "policy.serving.max_context"),  # set on the command line, not here
    ({"serving": {"max_batch": 64}}, "policy.serving.max_batch"),
])
def test_invalid_policies_name_the_field(data, field):
    with pytest.raises(InvalidSpec) as err:
        policy_from_dict(data)
    assert err.value.field == field


def test_unknown_scheme_is_named():
    with pytest.raises(UnknownName, match="oakn"):
        policy_from_dict({"kv": "oakn"})


def test_per_layer_policy_costs_the_mean_of_its_layers():
    spec = policy_from_dict({"kv": "oaken", "layers": [{"first": 0, "last": 7, "kv": "fp16"}]})
    policy = spec.policy(32)
    bits = policy.kv_mean(lambda s: s.bits_per_elem(4096))
    expected = (8 * 16 + 24 * KV_SCHEMES["oaken"].bits_per_elem(4096)) / 32
    assert bits == pytest.approx(expected)
    assert policy.quantized_kv_share == 0.75
    with pytest.raises(InvalidSpec, match="layers"):
        policy_from_dict({"layers": [{"first": 0, "last": 40, "kv": "fp16"}]}).policy(32)


def test_adaptive_rule_switches_new_tokens_and_records_it():
    reqs = load_trace("azure-conv-2023", TraceOptions(limit=1200, speedup=4, max_context=4096)).requests
    rules = {"kv": "fp16", "rules": [{"when": "kv_occupancy", "above": 0.5, "kv": "oaken"}]}
    static = replay(RunSpec("oaken-hbm", "llama2-13b").build(), reqs).summary
    sim = RunSpec("oaken-hbm", "llama2-13b", policy=rules).build()
    adaptive = replay(sim, reqs).summary
    assert adaptive["quant"]["switch_count"] >= 1
    assert adaptive["quant"]["switches"][0]["to"] == "w:fp16/kv:oaken"
    series = [s for s in sim.recorder.series if s.name.endswith("kv_bits_per_elem")]
    assert series and series[0].value < 5  # the switch is in the run's time series
    # the switch buys room: more tokens fit, so more requests run at once and finish sooner
    assert adaptive["makespan_s"] < static["makespan_s"]
