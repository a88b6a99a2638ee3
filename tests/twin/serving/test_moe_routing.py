"""MoE routing is a named choice, and each choice streams Mixtral's expert bytes as its formula says.

The expected distinct experts of each formula are checked against a Monte Carlo of the routing
process it describes (uniform: every token draws its top-k set uniformly without replacement;
skewed: each token routes to expert i independently with probability k * p_i, p_i Zipf), and the
streamed bytes against attention + that many experts + the router.
"""

from __future__ import annotations

import numpy as np
import pytest

from twin.catalog import load_model, load_server
from twin.config import ServingConfig
from twin.errors import InvalidSpec
from twin.quant import QuantPolicy
from twin.replay import RunSpec, replay
from twin.serving.cost import CostModel
from twin.serving.moe import MoeRouting
from twin.serving.request import TraceRequest

MIXTRAL = load_model("mixtral-8x7b")
E, K = MIXTRAL.experts, MIXTRAL.experts_top_k


def mc_uniform(tokens: int, trials: int = 4000, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    picks = np.argsort(rng.random((trials, tokens, E)), axis=2)[:, :, :K]  # k distinct experts per token
    hit = np.zeros((trials, E), bool)
    for j in range(K):
        np.put_along_axis(hit, picks[:, :, j], True, axis=1)
    return hit.sum(axis=1).mean()


def mc_skewed(tokens: int, s: float, trials: int = 4000, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, E + 1) ** s
    q = np.minimum(1, K * p / p.sum())
    hit = (rng.random((trials, tokens, E)) < q).any(axis=1)
    return hit.sum(axis=1).mean()


def streamed_experts(routing: MoeRouting, tokens: int) -> float:
    """Experts' worth of bytes one Mixtral layer streams for `tokens` tokens, read back from the cost model."""
    cm = CostModel(MIXTRAL, load_server("lpu-8x-4nm"), 1, QuantPolicy(), routing)
    fixed = cm.policy.weights.bytes_for(MIXTRAL.attn_params + MIXTRAL.hidden * E)
    return (cm.layer_weight_bytes(tokens) - fixed) / cm.policy.weights.bytes_for(MIXTRAL.expert_params)


@pytest.mark.parametrize("tokens", [1, 2, 4, 16])
def test_uniform_streams_the_experts_uniform_routing_touches(tokens):
    assert streamed_experts(MoeRouting("uniform"), tokens) == pytest.approx(mc_uniform(tokens), rel=0.03)


@pytest.mark.parametrize("tokens", [2, 4, 16])
@pytest.mark.parametrize("s", [0.8, 1.5])
def test_skewed_streams_fewer_experts_as_its_zipf_law_says(tokens, s):
    skewed = streamed_experts(MoeRouting("skewed", s), tokens)
    assert skewed == pytest.approx(mc_skewed(tokens, s), rel=0.03)
    assert skewed < streamed_experts(MoeRouting("uniform"), tokens)  # popular experts are shared more


@pytest.mark.parametrize("tokens", [1, 4, 64])
def test_active_only_streams_top_k_whatever_the_batch(tokens):
    assert streamed_experts(MoeRouting("active-only"), tokens) == pytest.approx(K)


def test_the_choice_is_printed_with_every_moe_result_and_only_there():
    reqs = [TraceRequest(i, 0.0, 256, 32) for i in range(8)]
    summaries = {}
    for kind in ("uniform", "skewed", "active-only"):
        # Oaken's NPU: decode of a batch of 8 is bound by the weights it streams (an LPU is MAC-bound there)
        spec = RunSpec("oaken-lpddr", "mixtral-8x7b", serving=ServingConfig(moe_routing=kind, moe_zipf_s=1.2))
        summaries[kind] = replay(spec.build(), reqs).summary
    assert summaries["skewed"]["twin"]["moe_routing"] == "skewed (Zipf s=1.2)"
    assert summaries["uniform"]["twin"]["moe_routing"] == "uniform"
    # fewer bytes per step, shorter TPOT, in the order of the experts each streams
    tpot = {k: v["tpot_s"]["mean"] for k, v in summaries.items()}
    assert tpot["active-only"] < tpot["skewed"] < tpot["uniform"]
    dense = replay(RunSpec("oaken-lpddr", "llama2-7b").build(), reqs).summary
    assert "moe_routing" not in dense["twin"]


def test_unknown_routing_is_refused():
    with pytest.raises(InvalidSpec, match="moe_routing"):
        ServingConfig(moe_routing="learned")
    with pytest.raises(InvalidSpec, match="moe_zipf_s"):
        MoeRouting("skewed", 0)
