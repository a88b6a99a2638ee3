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
    assert "llama2-70b" in msg and "GiB per chip" in msg and "96.0 GiB of HBM" in msg
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


# ---- capacities as the hardware has them, weights as the checkpoint holds them ----------------

@pytest.mark.parametrize("chip,gib", [("lpu-asic-3280", 96), ("lpu-asic-819", 24), ("lpu-fpga-u55c", 16),
                                      ("oaken-npu-hbm", 80), ("oaken-npu-lpddr", 256)])
def test_memory_capacities_are_binary_as_dram_densities_are(chip, gib):
    from twin.catalog import load_chip
    assert load_chip(chip).memory.capacity_bytes == gib * 2**30


@pytest.mark.parametrize("model,counted_b", [("opt-1.3b", 1.316), ("opt-66b", 65.7), ("llama2-7b", 6.738)])
def test_resident_weights_match_the_checkpoint_count(model, counted_b):
    """Tied input/output embeddings are one matrix: OPT's checkpoints count it once (model YAML notes)."""
    from twin.serving.cost import CostModel
    cm = CostModel(load_model(model), load_server("lpu-8x-4nm"), 8, QuantPolicy())
    assert cm.weight_bytes() * 8 / 2 == pytest.approx(counted_b * 1e9, rel=0.003)


def test_opt66b_fits_orion_cloud_as_the_paper_ran_it():
    plan = plan_memory(ClusterSpec(load_server("orion-cloud"), tp=8), load_model("opt-66b"), QuantPolicy(),
                       ServingConfig())
    assert plan.kv_blocks * 16 >= 2048  # room for at least one full-context request
    with pytest.raises(CapacityExceeded):  # ... but not one 96 GiB LPU (LPU paper, reference §2)
        plan_memory(ClusterSpec(load_server("lpu-8x-4nm"), tp=1), load_model("opt-66b"), QuantPolicy(),
                    ServingConfig())
