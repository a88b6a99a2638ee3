"""The engine charges exactly the cost model's step times, with closed-form decode runs."""

from __future__ import annotations

import pytest

from builds import python_only
from twin.catalog import load_model, load_server
from twin.config import ClusterSpec, ServingConfig
from twin.serving.closed_form import Affine, StepTimes
from twin.serving.cost import StepShape
from twin.serving.request import TraceRequest
from twin.sim import Simulation


def one_request(inp: int, out: int, arrival: float = 2.0):
    sim = Simulation(ClusterSpec(load_server("lpu-8x-4nm"), tp=1, replicas=1), load_model("opt-1.3b"))
    sim.submit(TraceRequest(0, arrival, inp, out))
    sim.run()
    return sim, sim.recorder.requests[0]


def test_single_request_latencies_follow_the_cost_model():
    sim, rec = one_request(32, 5)
    cm = sim.replicas[0].cost
    prefill = cm.step_time(StepShape(prefill_tokens=32, prefill_pairs=32 * 16.5, outputs=1))
    decodes = [cm.step_time(StepShape(decode_seqs=1, decode_context=33 + k, outputs=1)) for k in range(4)]
    assert rec.ttft_s == pytest.approx(sim._ingest_s(32) + prefill, rel=1e-12)  # host ingest, then prefill
    assert rec.finish_s - rec.first_token_s == pytest.approx(sum(decodes), rel=1e-12)


def test_decode_step_is_weight_streaming_plus_the_sampler():
    """By hand: one OPT-1.3B decode step streams the weights at the sustained bandwidth."""
    sim, _ = one_request(32, 2)
    m, chip = sim.model, sim.cluster.server.chip
    weights = (m.layers * m.layer_params + m.head_params) * 2  # FP16
    sampler = m.vocab / (chip.sampler_elems_per_cycle * chip.clock_ghz * 1e9)
    by_hand = weights / chip.memory.sustained_bytes_per_s + sampler
    step = sim.replicas[0].cost.step_time(StepShape(decode_seqs=1, decode_context=33, outputs=1))
    assert step == pytest.approx(by_hand, rel=0.03)  # KV reads, host overhead and norms are the rest


@pytest.mark.parametrize("seed", range(20))
def test_closed_form_sums_match_step_by_step(seed):
    import random
    rnd = random.Random(seed)
    lines = [Affine(rnd.uniform(0.1, 5), rnd.uniform(0, 0.3)) for _ in range(rnd.randint(1, 4))]
    times, k = StepTimes(lines), rnd.randint(0, 400)
    brute = sum(max(ln.at(i) for ln in lines) for i in range(k))
    assert times.total(k) == pytest.approx(brute, rel=1e-9, abs=1e-12)
    elapsed = rnd.uniform(0, brute)
    n = times.steps_within(elapsed, k)
    assert times.total(n) <= elapsed and (n == k or times.total(n + 1) > elapsed)


def test_one_bound_runs_invert_their_time_exactly():
    """A run with one bound throughout inverts T(k) by the quadratic formula; checked on a step-by-step
    count at and just around every whole step's end (where float rounding could tip it)."""
    import random
    rnd = random.Random(7)
    for _ in range(200):
        line = Affine(rnd.uniform(1e-4, 5), rnd.choice([0.0, rnd.uniform(0, 0.3), rnd.uniform(0, 1e-7)]))
        times, limit = StepTimes([line]), rnd.randint(0, 300)
        ends = [sum(line.at(i) for i in range(j)) for j in range(limit + 2)]
        for elapsed in (ends[rnd.randint(0, limit + 1)] * f for f in (1 - 1e-12, 1.0, 1 + 1e-12)):
            brute = max(j for j in range(limit + 1) if j == 0 or times.total(j) <= elapsed)
            assert times.steps_within(elapsed, limit) == brute


def test_arrivals_mid_decode_are_admitted_at_the_next_step_boundary():
    sim = Simulation(ClusterSpec(load_server("lpu-8x-4nm"), tp=1, replicas=1), load_model("opt-1.3b"),
                     serving=ServingConfig(policy="prefill-first"))
    sim.submit(TraceRequest(0, 0.0, 32, 1000))
    sim.submit(TraceRequest(1, 0.5, 32, 10))
    sim.run()
    first, second = sorted(sim.recorder.requests, key=lambda r: r.request_id)
    assert second.first_token_s < first.finish_s  # it did not wait for the long request
    assert second.ttft_s < 0.05  # one decode step plus its own prefill


@python_only("counts calls by patching Replica._run_or_wake, which compiled callers bind early")
def test_arrivals_behind_a_blocked_queue_leave_the_run_as_waking_the_engine_would(monkeypatch):
    """An arrival behind requests that were not admitted does not cut the decode run in flight
    (Lifecycle.poke): nothing can be admitted before the batch changes. A twin with an adaptive rule
    that never fires wakes on every arrival, as every twin once did; on a KV-bound replay both make
    the same records, and only the first spares the cuts."""
    from twin.quant.policy import SwitchRule
    from twin.replay import replay
    from twin.serving.engine import Replica
    from twin.traces import load_trace

    # about 1 request/s against a capacity near 0.2/s: the queue grows behind a full KV cache all along
    requests = load_trace("synthetic:poisson?rate=1&n=1500&input=512..2048&output=256..1024&seed=3").requests
    cuts = {"plain": 0, "woken": 0}
    kind = ["plain"]
    run_or_wake = Replica._run_or_wake

    def counting(self, total):
        event = run_or_wake(self, total)
        event.callbacks.append(lambda e: cuts.__setitem__(kind[0], cuts[kind[0]] + (e.value is None)))
        return event

    monkeypatch.setattr(Replica, "_run_or_wake", counting)

    def records(rules):
        sim = Simulation(ClusterSpec(load_server("lpu-8x-4nm"), tp=1, replicas=1), load_model("llama2-13b"),
                         serving=ServingConfig(max_batch=1024), rules=rules)  # the KV cache bounds the batch
        replay(sim, requests)
        return sorted(sim.recorder.requests, key=lambda r: r.request_id)

    plain = records(())
    kind[0] = "woken"
    woken = records((SwitchRule("kv_occupancy", 2.0, "fp16"),))  # occupancy never exceeds 1
    assert cuts["plain"] == 0 and cuts["woken"] > 100  # arrivals did come mid-run, behind a blocked queue
    assert [(r.request_id, r.state, r.preemptions) for r in plain] == \
        [(r.request_id, r.state, r.preemptions) for r in woken]
    for a, b in zip(plain, woken):
        assert (a.first_token_s, a.finish_s) == pytest.approx((b.first_token_s, b.finish_s), rel=1e-12)


def test_the_queue_is_sampled_while_requests_arrive_behind_a_blocked_queue():
    """Arrivals behind a blocked queue do not wake the engine, so a decode run can last a minute; the
    time series still see the queue grow: a sample at least every sample_every_s after each arrival."""
    from twin.replay import replay
    from twin.traces import load_trace

    requests = load_trace("synthetic:poisson?rate=1&n=600&input=512..2048&output=256..1024&seed=3").requests
    sim = Simulation(ClusterSpec(load_server("lpu-8x-4nm"), tp=1, replicas=1), load_model("llama2-13b"),
                     serving=ServingConfig(max_batch=1024))
    replay(sim, requests)
    times = [s.t_s for s in sim.recorder.series if s.name == "replica0/queue"]
    arrivals = [r.arrival_s for r in requests]
    longest_gap = max(b - a for a, b in zip(arrivals, arrivals[1:]))
    during = [t for t in times if t <= arrivals[-1]]
    assert max(b - a for a, b in zip(during, during[1:])) <= longest_gap + sim.serving.sample_every_s
