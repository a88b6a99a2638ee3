"""Tensor parallelism splits attention by heads: a tp that does not divide the heads is refused, naming the tps
that do; with fewer KV heads than chips each chip keeps a whole KV head (replicated, as vLLM does), so the KV
a chip holds and streams per token is one head's, not a fraction of one."""

from __future__ import annotations

import dataclasses

import pytest

from twin.catalog import load_model, load_server
from twin.errors import InvalidSpec
from twin.quant.schemes import QuantPolicy
from twin.serving.cost import CostModel


def qwen2_05b():
    """Qwen2-0.5B's attention (14 heads, 2 KV heads of 64): the case tp 8 used to accept silently."""
    base = load_model("llama2-7b")
    return dataclasses.replace(base, name="qwen2-0.5b", layers=24, hidden=896, heads=14, kv_heads=2, ffn=4864,
                               vocab=151936)


def test_a_tp_that_does_not_divide_the_heads_is_refused_naming_those_that_do() -> None:
    with pytest.raises(InvalidSpec) as err:
        CostModel(qwen2_05b(), load_server("lpu-8x-4nm"), 8, QuantPolicy())
    assert err.value.field == "tp"
    assert "does not divide qwen2-0.5b's 14 attention heads" in err.value.message
    assert "[1, 2, 14]" in err.value.message  # 7 divides the heads but neither splits nor replicates 2 KV heads


@pytest.mark.parametrize("tp", [1, 2, 8, 16])
def test_fewer_kv_heads_than_chips_are_replicated(tp: int) -> None:
    model, server = load_model("llama2-70b"), load_server("lpu-8x-4nm")  # 64 heads, 8 KV heads of 128
    cost = CostModel(model, server, tp, QuantPolicy())
    per_chip = cost.kv_token_layer_bytes / tp
    heads_per_chip = max(model.kv_heads / tp, 1)
    assert per_chip == pytest.approx(2 * heads_per_chip * model.head_dim * 2, rel=1e-12)  # K and V, fp16
