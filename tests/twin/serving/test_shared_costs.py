"""Replicas of one pool share a cost model; a live policy change keeps each pool's own server."""

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
    from twin.quant.policy import SwitchRule

    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=8).build()
    sim.replicas[0].rules = (SwitchRule("kv_occupancy", 2.0, "int4"),)  # occupancy never exceeds 1
    int8 = QuantPolicy.named("fp16", "int8")
    sim.set_policy(int8)
    sim.replicas[0].adapt()
    assert sim.replicas[0].cost.policy == int8 and sim.replicas[0].switches == []
