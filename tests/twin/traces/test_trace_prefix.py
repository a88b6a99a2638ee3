"""Prefix blocks of traces: sizes, session-derived ids, and the infinite-cache reuse bound."""

from __future__ import annotations

import json
import math

import pytest

from twin.config import ServingConfig
from twin.replay import RunSpec, replay
from twin.serving.request import TraceRequest
from twin.traces import TraceOptions, load_trace
from twin.traces.prefix import derive_session_blocks, prefix_reuse, with_prefix_blocks


def req(i, ids, n, session=None):
    return TraceRequest(i, float(i), n, 10, session, tuple(ids))


def test_mooncake_blocks_are_512_tokens_with_a_remainder(tmp_path):
    path = tmp_path / "m.jsonl"
    rows = [{"timestamp": 0, "input_length": 1000, "output_length": 5, "hash_ids": [1, 2]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_trace(path).requests[0].block_sizes == (512, 488)


def test_reuse_bound_counts_leading_runs_already_seen():
    # README rule: the leading run of a prompt's blocks seen before, in arrival order.
    reqs = with_prefix_blocks([req(0, [1, 2, 3], 1536), req(1, [1, 2, 9], 1536), req(2, [7, 2, 3], 1500)], 512)
    bound = prefix_reuse(reqs)
    assert (bound["hit_blocks"], bound["blocks"]) == (2, 9)  # block 2 after 7 is another prefix
    assert bound["token_hit_rate"] == pytest.approx(1024 / (1536 + 1536 + 1500))


def test_session_turns_inherit_the_previous_prompt():
    reqs = derive_session_blocks([req(0, [], 200, "s"), req(1, [], 300, "s"), req(2, [], 100, "t")], size=64)
    a, b, c = reqs
    assert a.block_sizes == (64, 64, 64, 8) and sum(b.block_sizes) == 300
    assert b.block_ids[:3] == a.block_ids[:3] and b.block_ids[3] != a.block_ids[3]
    assert not set(c.block_ids) & set(a.block_ids)
    bound = prefix_reuse(reqs)
    assert bound["hit_tokens"] == 3 * 64


def test_ragpulse_sizes_come_from_the_lookup_files(shared_traces):
    path = shared_traces / "ragpulse" / "0_trace.jsonl"
    first = load_trace(path).requests
    sizes = {}
    for name, key in (("1_sys_prompt.jsonl", "sys_prompt_id"), ("2_passages.jsonl", "passage_id"),
                      ("3_history.jsonl", "history_id"), ("4_user_input.jsonl", "user_input_id"),
                      ("5_web_search.jsonl", "web_search_id")):
        for line in open(shared_traces / "ragpulse" / name):
            if line.strip():
                o = json.loads(line)
                sizes[o[key]] = o["token_length"]
    r = first[0]
    assert r.block_sizes == tuple(sizes[b] for b in r.block_ids)


# ---- the bound against replays (twin.serving.prefix_cache in a running twin) ------------
def run(requests, model, tp=8, **serving):
    sim = RunSpec("lpu-8x-4nm", model, tp=tp, serving=ServingConfig(**serving)).build()
    result = replay(sim, requests)
    assert result.status == "complete", result.error
    return sim, result.summary


def _ragpulse(shared_traces, limit=None):
    path = shared_traces / "ragpulse" / "0_trace.jsonl"
    return load_trace(path, TraceOptions(limit=limit, max_context=8192)).requests


def test_a_replay_never_beats_the_infinite_cache_bound(shared_traces):
    reqs = _ragpulse(shared_traces, limit=1500)
    _, summary = run(reqs, model="llama3-8b", tp=2, prefix_cache="lru", router="prefix-affinity",
                     prefix_cache_share=0.05)
    cache, bound = summary["architecture"]["prefix_cache"], prefix_reuse(reqs)
    assert 0 < cache["token_hit_rate"] <= bound["token_hit_rate"]
    assert cache["block_hit_rate"] <= bound["block_hit_rate"]


def test_an_unbounded_cache_reaches_the_bound_on_ragpulse(shared_traces):
    """Only requests that arrive while the request they share a prefix with is still prefilling
    (RAGPulse has 90 same-second arrivals) miss what the bound counts."""
    reqs = _ragpulse(shared_traces)
    _, summary = run(reqs, model="llama3-8b", prefix_cache="lru", prefix_cache_gb=math.inf)
    cache, bound = summary["architecture"]["prefix_cache"], prefix_reuse(reqs)
    assert cache["hit_tokens"] <= bound["hit_tokens"]
    assert cache["hit_tokens"] >= 0.995 * bound["hit_tokens"]




# ---- prefix affinity balanced against load (issue 26, item 8) ------------------------------------
def _affinity_vs_round_robin(reqs, **serving):
    out = {}
    for router in ("round-robin", "prefix-affinity"):
        sim, summary = run(reqs, model="llama3-8b", tp=2, prefix_cache="lru", router=router, **serving)
        cache = summary["architecture"]["prefix_cache"]
        lookups = [rep.prefix.cache.counters.lookups for rep in sim.replicas]
        assert (cache["replica_lookups_min"], cache["replica_lookups_max"]) == (min(lookups), max(lookups))
        out[router] = lookups, cache["token_hit_rate"]
    return out


def test_a_sparse_trace_with_a_shared_system_prompt_is_spread_over_every_replica(shared_traces):
    """RAGPulse at its own pace: nothing is outstanding when a request comes, every prompt starts with
    a shared system prompt; affinity alone sent 249, 49, 2 and 0 of 300 requests to the 4 replicas."""
    out = _affinity_vs_round_robin(load_trace(shared_traces / "ragpulse" / "0_trace.jsonl",
                                              TraceOptions(limit=300, max_context=8192)).requests)
    lookups, hit_rate = out["prefix-affinity"]
    mean = sum(lookups) / len(lookups)
    assert len(lookups) == 4 and all(0.7 * mean <= n <= 1.1 * mean + 1 for n in lookups)
    assert hit_rate >= out["round-robin"][1]


def test_under_load_affinity_keeps_its_hit_rate_above_round_robin_with_a_fair_share(shared_traces):
    reqs = load_trace(shared_traces / "ragpulse" / "0_trace.jsonl",
                      TraceOptions(limit=400, rate_rps=5.0, max_context=8192)).requests
    out = _affinity_vs_round_robin(reqs, prefix_cache_share=0.05)
    lookups, hit_rate = out["prefix-affinity"]
    mean = sum(lookups) / len(lookups)
    assert all(0.7 * mean <= n <= 1.1 * mean + 1 for n in lookups)
    assert hit_rate >= 1.1 * out["round-robin"][1]  # 0.25 against 0.22
