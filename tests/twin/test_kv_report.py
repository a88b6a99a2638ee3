"""A run whose KV policy changes reports what it stored: every switch with its time and cause, the share of
tokens and of time each policy had, bits weighted both ways, and the published accuracy change weighted by
token share. Before, a SetPolicy to Oaken at 30 s reported no switch and called the whole run Oaken."""

from __future__ import annotations

import pytest

from twin.quant.accuracy import WIKITEXT2_PPL
from twin.quant.schemes import QuantPolicy
from twin.replay import RunSpec, summarize
from twin.summary import Slo
from twin.traces import TraceOptions, load_trace

SWITCH_AT_S = 30.0


def oaken_bits(model) -> float:
    return QuantPolicy.named("fp16", "oaken").kv_mean(lambda s: s.bits_per_elem(model.kv_dim))


def test_set_policy_mid_run_is_reported_as_a_switch_with_its_shares() -> None:
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=8).build()  # one replica of 8 chips
    requests = load_trace("azure-conv-2023", TraceOptions(limit=400, max_context=4096)).requests
    sim.feed(requests)
    sim.run(SWITCH_AT_S)
    (rep,) = sim.replicas
    written_before = rep.stats.prefill_tokens + rep.stats.decode_tokens  # observed at the switch
    sim.set_policy(QuantPolicy.named("fp16", "oaken"))
    sim.run()
    q = summarize(sim, Slo())["quant"]
    end = sim.now_s
    written = sum(r.input_tokens + r.output_tokens - 1 for r in requests)  # prompts, then outputs after the first
    assert q["switch_count"] == 1
    (sw,) = q["switches"]
    assert (sw["t_s"], sw["from"], sw["to"], sw["cause"]) == (SWITCH_AT_S, "w:fp16/kv:fp16", "w:fp16/kv:oaken",
                                                              "SetPolicy")
    assert q["kv_time_share"]["w:fp16/kv:fp16"] == pytest.approx(SWITCH_AT_S / end, rel=1e-12)
    fp16_share = written_before / written
    assert 0 < fp16_share < 1
    assert q["kv_token_share"]["w:fp16/kv:fp16"] == pytest.approx(fp16_share, rel=1e-12)
    bits = fp16_share * 16 + (1 - fp16_share) * oaken_bits(sim.model)
    assert q["kv_bits_per_elem"] == pytest.approx(bits, rel=1e-12)
    assert q["kv_schemes"] == ["fp16", "oaken"]
    delta = WIKITEXT2_PPL["oaken"]["llama2-7b"] - WIKITEXT2_PPL["fp16"]["llama2-7b"]
    assert q["token_weighted_delta_ppl"] == pytest.approx((1 - fp16_share) * delta, abs=1e-4)


def test_an_adaptive_policy_names_the_rule_that_switched_it() -> None:
    policy = {"weights": "fp16", "kv": "fp16", "rules": [{"when": "queue_length", "above": 64, "kv": "oaken"}]}
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", policy=policy).build()
    requests = load_trace("azure-conv-2023", TraceOptions(limit=3000, speedup=20, max_context=4096)).requests
    sim.feed(requests)
    sim.run()
    q = summarize(sim, Slo())["quant"]
    assert q["switch_count"] >= 1
    first = q["switches"][0]
    assert first["to"] == "w:fp16/kv:oaken" and first["cause"].startswith("queue_length ")
    assert float(first["cause"].split()[1]) > 64  # the queue it saw, over the rule's threshold
    shares = q["kv_token_share"]
    assert set(shares) == {"w:fp16/kv:fp16", "w:fp16/kv:oaken"} and sum(shares.values()) == pytest.approx(1.0)
    assert min(16.0, oaken_bits(sim.model)) < q["kv_bits_per_elem"] < 16.0
    assert min(16.0, oaken_bits(sim.model)) < q["kv_bits_time_weighted"] < 16.0
    back = [s for s in q["switches"] if s["to"] == "w:fp16/kv:fp16"]
    assert all(s["cause"] == "no rule matches: the base policy" for s in back)


def test_a_run_without_switches_reports_one_policy_at_its_bits() -> None:
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", kv="oaken").build()
    sim.feed(load_trace("azure-conv-2023", TraceOptions(limit=50, max_context=4096)).requests)
    sim.run()
    q = summarize(sim, Slo())["quant"]
    assert q["switch_count"] == 0 and q["switches"] == []
    assert q["kv_token_share"] == {"w:fp16/kv:oaken": 1.0}
    assert q["kv_bits_per_elem"] == q["kv_bits_time_weighted"] == oaken_bits(sim.model)
