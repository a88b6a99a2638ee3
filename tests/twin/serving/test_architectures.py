"""Disaggregation, prefix caching and speculative decoding, run in the twin end to end."""

from __future__ import annotations

import math
import random

import pytest

from twin.config import ServingConfig
from twin.replay import RunSpec, replay
from twin.serving.disaggregation import KvLink
from twin.serving.request import TraceRequest
from twin.serving.speculative import expected_tokens
from twin.traces import TraceOptions, load_trace
from twin.traces.prefix import with_prefix_blocks

LLAMA2_7B_KV_BYTES_PER_TOKEN_LAYER = 2 * 4096 * 2  # K and V, 32 heads x 128, fp16 (published architecture)


def run(requests, model="llama2-7b", tp=8, servers=1, **serving):
    sim = RunSpec("lpu-8x-4nm", model, servers=servers, tp=tp, serving=ServingConfig(**serving)).build()
    result = replay(sim, requests)
    assert result.status == "complete", result.error
    return sim, result.summary


def conv(n=200, speedup=1.0):
    return load_trace("azure-conv-2023", TraceOptions(limit=n, speedup=speedup, max_context=4096)).requests


# ---- disaggregation ------------------------------------------------------------------
def test_every_transfer_moves_the_prompts_kv_of_every_layer():
    reqs = conv(150)
    sim, summary = run(reqs, tp=4, pd="1:1")
    log = sim.disaggregation.log
    multi = [r for r in reqs if r.output_tokens > 1]
    assert len(log.transfers) == len(multi)
    for r in multi:
        assert log.transfers[r.request_id].bytes == r.input_tokens * LLAMA2_7B_KV_BYTES_PER_TOKEN_LAYER * 32
    assert summary["architecture"]["disaggregation"]["kv_gb_moved"] == pytest.approx(
        sum(r.input_tokens for r in multi) * LLAMA2_7B_KV_BYTES_PER_TOKEN_LAYER * 32 / 1e9)


def test_a_layer_is_sent_only_after_its_prefill_computed_it():
    reqs = conv(150)
    sim, _ = run(reqs, tp=4, pd="1:1")
    records = {rec.request_id: rec for rec in sim.recorder.requests}
    for rid, t in sim.disaggregation.log.transfers.items():
        assert all(start >= ready for start, ready in zip(t.layer_starts, t.ready))
        assert list(t.ready) == sorted(t.ready) and t.ready[0] > records[rid].arrival_s
        assert records[rid].first_token_s >= t.end_s  # the first token leaves from the decode side


def test_decode_replicas_never_exceed_their_kv_and_transfers_wait_for_room():
    reqs = conv(300, speedup=50)  # a burst from seven prefill chips fills the one decode chip's KV
    sim, summary = run(reqs, model="llama2-13b", tp=1, pd="7:1")
    decode = [rep for rep in sim.replicas if rep.role == "decode"][0]
    assert decode.kv.peak <= decode.kv.capacity
    assert summary["architecture"]["disaggregation"]["wait_for_room_mean_s"] > 0
    assert summary["requests"]["done"] == len(reqs)


def test_an_ideal_link_gives_the_colocated_ttft():
    reqs = [TraceRequest(i, 30.0 * i, 500 + 300 * i, 20) for i in range(4)]  # one at a time
    _, colocated = run(reqs, tp=4)
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=4, serving=ServingConfig(pd="1:1")).build()
    sim.disaggregation.links_between = lambda src, dst: [KvLink("ideal", math.inf, 0.0)]
    result = replay(sim, reqs)
    assert result.summary["ttft_s"]["mean"] == pytest.approx(colocated["ttft_s"]["mean"], rel=1e-12)
    assert result.summary["ttft_s"]["max"] == pytest.approx(colocated["ttft_s"]["max"], rel=1e-12)


# ---- prefix cache --------------------------------------------------------------------
def test_hit_rate_on_a_shared_prefix_is_the_analytic_one():
    n, shared, own, size = 40, 6, 3, 128
    reqs = [TraceRequest(i, 5.0 * i, (shared + own) * size, 4, None,
                         tuple(range(shared)) + tuple(1000 * (i + 1) + j for j in range(own)),
                         (size,) * (shared + own)) for i in range(n)]
    _, summary = run(reqs, prefix_cache="lru", prefix_cache_gb=math.inf)
    cache = summary["architecture"]["prefix_cache"]
    assert cache["block_hit_rate"] == pytest.approx((n - 1) * shared / (n * (shared + own)), rel=1e-12)
    assert cache["token_hit_rate"] == pytest.approx((n - 1) * shared / (n * (shared + own)), rel=1e-12)
    assert cache["prefill_tokens_saved"] == (n - 1) * shared * size


def test_cached_prefixes_shorten_the_prefill():
    reqs = [TraceRequest(i, 5.0 * i, 2048, 4, None, (1, 2, 3, 4 + i), (512,) * 4) for i in range(10)]
    _, plain = run(reqs)
    _, cached = run(reqs, prefix_cache="lru")
    assert cached["ttft_s"]["mean"] < 0.5 * plain["ttft_s"]["mean"]


def test_session_turns_hit_their_previous_prompt():
    turns = [TraceRequest(i, 20.0 * i, 256 * (i + 1), 8, "s") for i in range(5)]
    reqs = with_prefix_blocks(turns, None)
    _, summary = run(reqs, prefix_cache="lru", prefix_cache_gb=math.inf)
    assert summary["architecture"]["prefix_cache"]["hit_tokens"] == sum(256 * i for i in range(5))


# ---- speculative decoding ------------------------------------------------------------
def _decode_heavy(n=6, out=1 + 5 * 60):
    return [TraceRequest(i, 0.5 * i, 200, out) for i in range(n)]


def test_acceptance_zero_costs_more_than_plain_decoding():
    reqs = _decode_heavy()
    _, plain = run(reqs, model="llama2-13b", tp=1)
    _, spec = run(reqs, model="llama2-13b", tp=1, speculative=4, acceptance=0.0, draft_skip=0.5)
    assert spec["tpot_s"]["mean"] > plain["tpot_s"]["mean"]
    assert spec["architecture"]["speculative"]["tokens_per_step"] == 1


def test_acceptance_one_makes_k_plus_one_tokens_per_step():
    reqs = _decode_heavy(out=1 + 5 * 60)  # 300 decode tokens: exactly 60 steps of 5
    sim, summary = run(reqs, model="llama2-13b", tp=1, speculative=4, acceptance=1.0, draft_model="llama2-7b")
    assert summary["architecture"]["speculative"]["tokens_per_step"] == 5
    assert summary["hardware"]["decode_tokens"] == 6 * 300


def test_tokens_per_step_follow_the_closed_form_over_a_long_run():
    a, k = 0.6, 4
    reqs = [TraceRequest(i, 0.2 * i, 100, 1200) for i in range(40)]
    _, summary = run(reqs, model="llama2-7b", tp=1, speculative=k, acceptance=a, draft_skip=0.5)
    measured = summary["architecture"]["speculative"]["tokens_per_step"]
    assert measured == pytest.approx((1 - a ** (k + 1)) / (1 - a), rel=0.02)
    assert expected_tokens(a, k) == pytest.approx((1 - a ** (k + 1)) / (1 - a))


def test_a_host_tier_hit_pays_pcie_but_less_than_a_recompute():
    block = 512
    def reqs():
        ids = [(1, 2, 3, 4), (5, 6, 7, 8), (1, 2, 3, 4, 9)]
        return [TraceRequest(i, 20.0 * i, len(b) * block, 2, None, b, (block,) * len(b)) for i, b in enumerate(ids)]
    gb_of = lambda tokens: tokens * LLAMA2_7B_KV_BYTES_PER_TOKEN_LAYER * 32 / 1e9  # noqa: E731
    ttft = {}
    for name, opts in {"device": dict(prefix_cache_gb=gb_of(16 * block)),
                       "host": dict(prefix_cache_gb=gb_of(4 * block), prefix_cache_host_gb=gb_of(16 * block)),
                       "none": dict(prefix_cache_gb=gb_of(4 * block))}.items():
        sim, summary = run(reqs(), prefix_cache="lru", **opts)
        ttft[name] = next(r.ttft_s for r in sim.recorder.requests if r.request_id == 2)
        assert summary["architecture"]["prefix_cache"]["hit_tokens"] == (0 if name == "none" else 4 * block)
    # the host hit moves 2048 tokens x 512 KiB of KV over PCIe (8 chips x 50 GB/s): ~2.7 ms
    assert ttft["host"] - ttft["device"] == pytest.approx(4 * block * 524288 / 8 / 50e9 + 1e-6, rel=1e-6)
    assert ttft["device"] < ttft["host"] < ttft["none"]


def test_prefill_replicas_resume_when_their_transfers_free_kv():
    """Prefilled requests keep their prefill replica's KV until it has moved; when the decode side is
    full they wait, and the prefill replicas go idle with requests queued. A finished transfer frees
    that KV and wakes its replica: once only a new arrival did, and a replay whose arrivals had ended
    never finished (900 requests in 18 s; with the poke taken out, 639 finish)."""
    from twin.catalog import load_model, load_server
    from twin.config import ClusterSpec
    from twin.sim import Simulation

    rng, t, requests = random.Random(5), 0.0, []
    for i in range(900):
        t += rng.expovariate(50.0)
        requests.append(TraceRequest(i, t, rng.randint(600, 1000), rng.randint(2000, 4000)))
    sim = Simulation(ClusterSpec(load_server("lpu-8x-4nm"), tp=1, replicas=3), load_model("llama2-13b"),
                     serving=ServingConfig(max_batch=1024, pd="2:1"))
    sim.feed(requests)
    sim.run(20_000)
    assert sim.done and sim.finished == 900
