"""Memory planning: what fits, and a useful message when it does not."""

import pytest

from twin.catalog import load_model, load_server
from twin.config import ClusterSpec, ServingConfig
from twin.errors import CapacityExceeded, InvalidSpec
from twin.memory import plan_memory
from twin.quant import QuantPolicy


def test_a_model_that_does_not_fit_says_what_it_needs_and_what_would_fit():
    cluster = ClusterSpec(load_server("lpu-8x-4nm"), tp=1)
    with pytest.raises(CapacityExceeded) as err:
        plan_memory(cluster, load_model("llama2-70b"), QuantPolicy(), ServingConfig())
    msg = str(err.value)
    assert "llama2-70b" in msg and "GB per chip" in msg and "96.0 GB" in msg
    assert "--tp 2" in msg and "--weights int8" in msg


def test_kv_capacity_follows_from_memory_minus_weights():
    cluster = ClusterSpec(load_server("oaken-lpddr"))
    model = load_model("llama2-7b")
    plan = plan_memory(cluster, model, QuantPolicy(), ServingConfig())
    kv_per_token = 2 * model.layers * model.kv_dim * 2  # K and V, FP16
    expected = (plan.capacity_bytes - plan.weight_bytes - plan.activation_bytes) / kv_per_token
    assert plan.kv_blocks * 16 == pytest.approx(expected, abs=16)
    assert plan.weight_bytes == pytest.approx(model.params * 2 + model.head_params * 0, rel=1e-9)


def test_int8_kv_holds_about_twice_the_tokens():
    cluster, model = ClusterSpec(load_server("oaken-lpddr")), load_model("llama2-7b")
    fp16 = plan_memory(cluster, model, QuantPolicy.named("fp16", "fp16"), ServingConfig())
    int8 = plan_memory(cluster, model, QuantPolicy.named("fp16", "int8"), ServingConfig())
    assert 1.95 < int8.kv_blocks / fp16.kv_blocks < 2.0  # the per-token scale and zero cost a little


def test_impossible_cluster_specs_name_the_field():
    server = load_server("lpu-8x-4nm")
    with pytest.raises(InvalidSpec, match="^tp: "):
        ClusterSpec(server, tp=3)
    with pytest.raises(InvalidSpec, match="^replicas: "):
        ClusterSpec(server, tp=4, replicas=3)
