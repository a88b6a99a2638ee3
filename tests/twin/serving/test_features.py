"""The replica composed of features (twin.serving.features): each holds its own per-request state, lets go
of it when the request leaves, and a replica calls only the hooks its features implement."""

from __future__ import annotations

from twin.config import ServingConfig
from twin.replay import RunSpec, replay
from twin.serving.features import (HOOKS, AdaptivePolicy, DecodeSide, Feature, PolicyLog, PrefillSide, PrefixCaching,
                                   Speculation)
from twin.serving.request import Request, TraceRequest
from twin.traces import TraceOptions, load_trace
from twin.traces.prefix import with_prefix_blocks


def conv(n=200, speedup=1.0):
    return load_trace("azure-conv-2023", TraceOptions(limit=n, speedup=speedup, max_context=4096)).requests


def shared_prefix(n=120):
    """Requests whose prompts open with one of three 512-token system prompts (so the caches hit)."""
    reqs = [TraceRequest(r.request_id, r.arrival_s, r.input_tokens + 512, r.output_tokens, f"s{r.request_id % 3}")
            for r in conv(n)]
    return with_prefix_blocks(reqs, block_tokens=16)


def built(requests, tp=4, servers=1, policy=None, model="llama2-7b", **serving):
    sim = RunSpec("lpu-8x-4nm", model, servers=servers, tp=tp, policy=policy,
                  serving=ServingConfig(**serving)).build()
    result = replay(sim, requests)
    assert result.status == "complete", result.error
    return sim


def kinds(rep) -> list[type]:
    return [type(f) for f in rep.features]


def test_a_plain_replica_holds_only_its_policy_log_and_calls_no_hook():
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=8).build()
    rep = sim.replicas[0]
    assert kinds(rep) == [PolicyLog]
    assert all(getattr(rep, f"_{name}") == () for name in HOOKS)  # PolicyLog overrides none of them


def test_each_pool_holds_the_features_its_options_ask_for():
    serving = ServingConfig(pd="1:1", prefix_cache="lru", speculative=3, draft_skip=0.5)
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=4, serving=serving).build()
    prefill, decode = sim.replicas
    assert kinds(prefill) == [PolicyLog, PrefixCaching, PrefillSide]  # prompts are cached where prefilled
    assert kinds(decode) == [PolicyLog, Speculation, DecodeSide]  # speculation runs where tokens are decoded
    assert prefill.spec is None and decode.prefix is None
    rules = {"kv": "fp16", "rules": [{"when": "queue_length", "above": 8, "kv": "int4"}]}
    adaptive = RunSpec("lpu-8x-4nm", "llama2-7b", tp=8, policy=rules).build().replicas[0]
    assert kinds(adaptive) == [AdaptivePolicy] and adaptive._boundary == (adaptive.kv_policy.boundary,)


def test_request_carries_no_feature_state():
    r = Request(TraceRequest(0, 0.0, 8, 8))  # compiled, a native class: no __dict__ to list, so ask by name
    assert [name for name in ("cached", "host_hit", "hit_blocks", "keys", "track", "rate", "pool", "role")
            if hasattr(r, name)] == []
    assert hasattr(r, "prefilled") and hasattr(r, "batch")  # what every replica needs stays


def test_prefix_state_is_let_go_when_prompts_enter_the_cache():
    sim = built(shared_prefix(), tp=2, prefix_cache="lru", router="prefix-affinity")
    caches = [rep.prefix for rep in sim.replicas]
    assert all(c is not None for c in caches)
    assert sum(c.cache.counters.hit_tokens for c in caches) > 0  # the run did hit
    assert all(c.hits == {} for c in caches) and sim.keys.routing == {}


def test_speculation_tracks_leave_the_batch_with_their_requests():
    sim = built(conv(150), tp=8, speculative=3, acceptance=0.6, draft_skip=0.5)
    b = sim.replicas[0].q.batch
    assert b.n == 0 and b.tracks == {} and b.rates == {}
    assert abs(b.slope) < 1e-9  # a running sum of the members' mean rates, added and taken away


def test_transfer_state_is_empty_once_every_request_has_decoded():
    sim = built(conv(300, speedup=50), model="llama2-13b", tp=1, pd="7:1")  # a burst fills the decode chip's KV
    sides = [f for rep in sim.replicas for f in rep.features if isinstance(f, DecodeSide)]
    assert len(sides) == 1 and sides[0].incoming == 0 and not sides[0].arrived
    assert not sim.disaggregation.waiting and sim.disaggregation.log.waits and max(sim.disaggregation.log.waits) > 0


class Counting(Feature):
    """Counts what it is told: every arrival, every prefill that produced a token, every completion."""

    def __init__(self) -> None:
        self.arrived, self.prefills, self.completed_ids = 0, 0, []

    def arrive(self, r) -> None:
        self.arrived += 1

    def prefilled(self, r) -> bool:
        self.prefills += 1
        return False

    def completed(self, r) -> None:
        self.completed_ids.append(r.id)


def test_an_observer_feature_sees_every_request_once():
    reqs = conv(120)
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=4).build(observers=(Counting,))
    assert replay(sim, reqs).status == "complete"
    probes = [rep.features[-1] for rep in sim.replicas]
    assert sum(p.arrived for p in probes) == len(reqs)
    assert sum(p.prefills for p in probes) == len(reqs)  # no preemption at this load: one prefill each
    assert sorted(i for p in probes for i in p.completed_ids) == sorted(r.request_id for r in reqs)
