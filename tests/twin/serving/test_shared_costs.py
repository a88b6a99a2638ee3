"""Replicas of one pool share a cost model; a live policy change keeps each pool's own server and moves
speculative drafts with it."""

from __future__ import annotations

from twin.catalog import load_server
from twin.config import ServingConfig
from twin.quant.schemes import QuantPolicy
from twin.replay import RunSpec
from twin.serving.cost import CostModel, StepShape

SHAPES = (StepShape(decode_seqs=8, decode_context=8 * 900, outputs=8),
          StepShape(prefill_tokens=700, prefill_pairs=700 * 701 / 2, outputs=1))


def pd_twin():
    """Two prefill replicas on an LPU server with a systolic engine (tp 8), two decode replicas on lpu-8x-4nm (tp 4)."""
    serving = ServingConfig(pd="2:2", prefill_server="lpu-systolic-8x-4nm")
    return RunSpec("lpu-8x-4nm", "llama2-7b", tp=4, servers=2, serving=serving).build()


def by_role(sim) -> dict[str, list]:
    roles: dict[str, list] = {}
    for rep in sim.replicas:
        roles.setdefault(rep.role, []).append(rep)
    return roles


def assert_priced_on_own_server(sim, policy: QuantPolicy) -> None:
    for role, server in (("prefill", "lpu-systolic-8x-4nm"), ("decode", "lpu-8x-4nm")):
        reps = by_role(sim)[role]
        assert len({id(rep.cost) for rep in reps}) == 1, f"{role} replicas should share one cost model"
        cost = reps[0].cost
        assert cost.server.name == server and cost.policy == policy
        fresh = CostModel(sim.model, load_server(server), cost.tp, policy)  # from the catalogue, not the twin
        for shape in SHAPES:
            assert reps[0].backend.cost.step_time(shape) == fresh.step_time(shape)


def test_each_pool_shares_one_cost_model_on_its_own_server():
    sim = pd_twin()
    assert_priced_on_own_server(sim, sim.policy)


def test_set_policy_prices_each_pool_on_its_own_server():
    sim = pd_twin()
    int8 = QuantPolicy.named("fp16", "int8")
    sim.set_policy(int8)
    assert_priced_on_own_server(sim, int8)


def test_adaptive_rules_fall_back_to_the_policy_set_live():
    """After set_policy, a twin with adaptive KV rules that match nothing keeps the new policy (the rules
    fell back to the policy the twin was built with)."""
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=8, policy=with_rule(above=1e9)).build()  # never that long
    int8 = QuantPolicy.named("fp16", "int8")
    sim.set_policy(int8)
    sim.replicas[0].kv_policy.boundary()  # the rules are checked: none matches
    assert sim.replicas[0].cost.policy == int8
    assert [(cause, new) for *_, new, _tokens, cause in sim.replicas[0].kv_policy.switches] == [("SetPolicy", int8)]


def with_rule(above: float) -> dict:
    """A policy file's contents: FP16, with new KV in int4 while more than `above` requests wait."""
    return {"weights": "fp16", "kv": "fp16", "rules": [{"when": "queue_length", "above": above, "kv": "int4"}]}


def spec_twin(policy: dict | None = None, **serving):
    return RunSpec("lpu-8x-4nm", "llama2-13b", tp=4, policy=policy,
                   serving=ServingConfig(speculative=3, **serving)).build()


def draft_decode_s(rep) -> float:
    return rep.spec.drafts.drafts_time(StepShape(decode_seqs=1, decode_context=900, outputs=1))  # memory-bound


def test_set_policy_moves_a_layer_skipping_draft_to_the_new_policy():
    """The draft's K steps run the target's layers: after a live change of weights to int8 they cost what
    a twin built with int8 weights says, not what they cost before."""
    sim = spec_twin(draft_skip=0.5)
    before = draft_decode_s(sim.replicas[0])
    int8 = QuantPolicy.named("int8", "fp16")
    sim.set_policy(int8)
    built = RunSpec("lpu-8x-4nm", "llama2-13b", tp=4, weights="int8",
                    serving=ServingConfig(speculative=3, draft_skip=0.5)).build()
    after = draft_decode_s(sim.replicas[0])
    assert after == draft_decode_s(built.replicas[0]) and after < before  # int8 weights stream half the bytes


def test_set_policy_quantizes_a_draft_model_as_the_target():
    sim = spec_twin(draft_model="llama2-7b")
    int8 = QuantPolicy.named("int8", "fp16")
    sim.set_policy(int8)
    rep = sim.replicas[0]
    built = RunSpec("lpu-8x-4nm", "llama2-13b", tp=4, weights="int8",
                    serving=ServingConfig(speculative=3, draft_model="llama2-7b")).build()
    assert rep.spec.drafts.draft.policy == int8 and rep.spec.drafts.target is rep.cost
    assert draft_decode_s(rep) == draft_decode_s(built.replicas[0])


def test_an_adaptive_kv_switch_moves_the_draft_too():
    """A rule that switches the KV scheme re-prices the draft's steps with the target's new cost model."""
    sim = spec_twin(with_rule(above=-1), draft_skip=0.5)  # the rule always matches
    rep = sim.replicas[0]
    rep.kv_policy.boundary()
    assert rep.cost.policy.kv.name == "int4" and rep.spec.drafts.target is rep.cost


def test_set_policy_must_fit_every_pool():
    """A live change to fp16 weights is refused when the prefill pool's FPGA server cannot hold them, as
    building that twin with fp16 is (the decode pool's LPU ASIC server alone would fit)."""
    import pytest
    from twin.errors import CapacityExceeded

    def spec(weights: str) -> RunSpec:
        return RunSpec("lpu-8x-4nm", "gpt3-20b", tp=4, weights=weights, servers=2,
                       serving=ServingConfig(pd="1:1", prefill_server="orion-edge"))

    with pytest.raises(CapacityExceeded, match="lpu-fpga-u55c"):
        spec("fp16").build()
    sim = spec("int8").build()
    with pytest.raises(CapacityExceeded, match="lpu-fpga-u55c"):
        sim.set_policy(QuantPolicy.named("fp16", "fp16"))
    assert sim.policy.weights.name == "int8" and all(rep.cost.policy.weights.name == "int8" for rep in sim.replicas)
