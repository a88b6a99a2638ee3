"""The overload verdict: predicted sustainable rate against replays that are clearly over or under it."""

from __future__ import annotations

import pytest

from twin import capacity
from twin.replay import RunSpec, replay
from twin.serving.request import TraceRequest
from twin.traces import load_trace


def _run(rate: float, n: int):
    trace = load_trace(f"synthetic:poisson?rate={rate}&n={n}&input=512..1024&output=128..256&seed=3")
    sim = RunSpec(server="lpu-8x-4nm", model="llama2-7b").build()
    load = capacity.of_simulation(sim, trace.requests)
    return load, replay(sim, trace.requests).summary


def test_clearly_overloaded_trace_is_overloaded_and_the_twin_saturates_near_the_prediction():
    load, summary = _run(rate=40.0, n=1500)
    assert load["verdict"] == "OVERLOADED" and load["load_factor"] > 3
    # Independent check: a saturated twin completes requests at about the predicted rate.
    measured = summary["throughput"]["requests_per_s"]
    assert measured == pytest.approx(load["sustainable_requests_per_s"], rel=0.15)
    assert summary["hardware"]["replica_busy"] > 0.95


def test_clearly_idle_trace_has_headroom_and_no_queueing():
    load, summary = _run(rate=0.05, n=40)
    assert load["verdict"] == "headroom" and load["load_factor"] < 0.1
    # No queue: even the slowest first token is about one prefill, not minutes of waiting.
    assert summary["ttft_s"]["max"] < 3 * load["prefill_s"]


def test_mix_and_verdict_edges():
    reqs = [TraceRequest(i, 10.0 * i, 100 + i, 50) for i in range(5)]
    mix = capacity.Mix.of(reqs)
    assert mix.requests_per_s == pytest.approx(4 / 40) and mix.input_tokens == pytest.approx(102)
    assert capacity.Mix.of(reqs[:1]).requests_per_s is None
    cap = capacity.Capacity(2.0, 8, "max batch", "memory bandwidth", 0.1, 0.05)
    assert capacity.verdict(2.5, cap) == ("OVERLOADED", 1.25)
    assert capacity.verdict(1.7, cap)[0] == "near capacity"
    assert capacity.verdict(None, cap) == ("headroom", None)


def test_small_kv_cache_limits_the_batch():
    sim = RunSpec(server="lpu-8x-4nm", model="llama2-7b").build()
    cost = sim.replicas[0].cost
    mix = capacity.Mix(100, 10.0, 1000.0, 1000.0)
    cap = capacity.sustainable(cost, 1, 256, kv_tokens=15_000, mix=mix)
    assert cap.batch == 10 and cap.batch_limited_by == "KV cache"  # 15000 // (1000 + 500)
