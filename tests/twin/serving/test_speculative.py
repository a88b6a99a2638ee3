"""Speculative decoding: acceptance draws, tokens per step, and the verify step's cost."""

from __future__ import annotations

import numpy as np
import pytest

from twin.catalog import load_model, load_server
from twin.errors import InvalidSpec
from twin.quant.schemes import QuantPolicy
from twin.serving.cost import CostModel, StepShape
from twin.serving.speculative import (Acceptance, DraftCost, SpeculativeConfig, expected_tokens, tokens_variance,
                                      verify_shape)


@pytest.mark.parametrize("a", [0.3, 0.6, 0.8])
def test_mean_tokens_per_step_matches_the_closed_form(a):
    k = 4
    acc = Acceptance(SpeculativeConfig(k, a, draft_skip=0.5, seed=3))
    cum = acc.steps(7, 200_000)
    per = np.diff(cum[:-1], prepend=0)  # the last step is cut to fit the output
    assert per.mean() == pytest.approx(expected_tokens(a, k), rel=0.02)
    assert per.var() == pytest.approx(tokens_variance(a, k), rel=0.05)


def test_acceptance_one_gives_k_plus_one_and_zero_gives_one_token():
    k = 3
    assert np.all(np.diff(Acceptance(SpeculativeConfig(k, 1.0, draft_skip=0.5)).steps(1, 40)) == k + 1)
    assert Acceptance(SpeculativeConfig(k, 0.0, draft_skip=0.5)).steps(1, 40).tolist() == list(range(1, 41))
    assert expected_tokens(1.0, k) == k + 1 and expected_tokens(0.0, k) == 1


def test_beta_acceptance_is_per_request_and_seeded():
    cfg = SpeculativeConfig(4, None, beta=(8.0, 2.0), draft_skip=0.5, seed=1)
    rates = [Acceptance(cfg).rate(i) for i in range(2000)]
    assert np.mean(rates) == pytest.approx(0.8, abs=0.01)  # Beta(8, 2) mean
    assert Acceptance(cfg).rate(5) == rates[5] and len(set(rates)) > 1000


def test_config_names_the_bad_field():
    with pytest.raises(InvalidSpec, match="acceptance"):
        SpeculativeConfig(4, 1.5, draft_skip=0.5)
    with pytest.raises(InvalidSpec, match="draft_model"):
        SpeculativeConfig(4, 0.5)


def _cost(model="llama2-13b", tp=1):
    return CostModel(load_model(model), load_server("lpu-8x-4nm"), tp, QuantPolicy())


def test_verify_prices_k_plus_one_tokens_of_macs_against_one_weight_stream():
    """The LPU's MAC trees match its bandwidth at batch 1 (LPU paper, SXE sized to the SMA), so a
    13B decode step is just memory-bound and a verify of K+1 tokens turns compute-bound."""
    cost, k = _cost(), 4
    decode = StepShape(decode_seqs=1, decode_context=1000, outputs=1)
    plain, verify = cost.step_time(decode), cost.step_time(verify_shape(decode, k))
    weights_s = 2 * cost.model.params / cost.bw  # independent roofline: fp16 weights once per step
    macs_s = (k + 1) * cost.model.params / cost.macs_per_s  # every weight times every query token
    assert plain == pytest.approx(weights_s, rel=0.1)
    assert verify == pytest.approx(max(weights_s, macs_s), rel=0.1)


def test_verify_costs_macs_when_the_batch_is_compute_bound():
    cost = _cost()
    decode = StepShape(decode_seqs=256, decode_context=256 * 1000, outputs=256)
    assert cost.step_time(verify_shape(decode, 4)) > 2 * cost.step_time(decode)


def test_draft_model_steps_cost_less_than_target_steps():
    target, draft = _cost(), _cost("llama2-7b")
    d = DraftCost(target, draft, None, k=4)
    decode = StepShape(decode_seqs=1, decode_context=1000, outputs=1)
    assert 3 * target.step_time(decode) > d.drafts_time(decode) > 4 * 0.5 * target.step_time(decode)
    assert d.weight_bytes() == pytest.approx(draft.weight_bytes())
    skip = DraftCost(target, None, 0.5, k=4)
    assert skip.drafts_time(decode) == pytest.approx(4 * 0.5 * target.step_time(decode), rel=0.05)
    assert skip.weight_bytes() == 0 and skip.kv_token_bytes() == 0


def test_tpot_gain_weighs_tokens_per_step_against_draft_and_verify_time():
    from twin.serving.speculative import tpot_gain
    target = _cost()
    skip = DraftCost(target, None, 0.5, k=4)
    assert tpot_gain(target, skip, 0.0) < 1  # nothing accepted: pure overhead
    # at A = 1 every step makes 5 tokens for 4 half-depth drafts and one verify
    decode = StepShape(decode_seqs=1, decode_context=1024, outputs=1)
    spent = skip.drafts_time(decode) + target.step_time(verify_shape(decode, 4))
    assert tpot_gain(target, skip, 1.0) == pytest.approx(5 * target.step_time(decode) / spent)
