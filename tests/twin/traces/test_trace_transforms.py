"""Transforms are pure, and TraceOptions applies them in the documented order."""

from __future__ import annotations

import pytest

from twin.errors import InvalidSpec
from twin.serving.request import TraceRequest
from twin.traces import (TraceOptions, clamp, limit, load_trace, normalise, rate, renumber, sample,
                         speedup, trace_stats, window)


def make(times, lengths=None):
    lengths = lengths or [(10, 5)] * len(times)
    return [TraceRequest(i, t, a, b) for i, (t, (a, b)) in enumerate(zip(times, lengths))]


def test_normalise_sorts_stably_rebases_and_numbers():
    reqs = make([5.0, 2.0, 5.0, 3.0], [(1, 1), (2, 2), (3, 3), (4, 4)])
    out = normalise(reqs)
    assert [(r.request_id, r.arrival_s, r.input_tokens) for r in out] == [
        (0, 0.0, 2), (1, 1.0, 4), (2, 3.0, 1), (3, 3.0, 3)]
    assert reqs[0].arrival_s == 5.0  # input untouched


def test_speedup_and_rate():
    reqs = make([0.0, 1.0, 2.0, 4.0])
    assert [r.arrival_s for r in speedup(reqs, 2.0)] == [0.0, 0.5, 1.0, 2.0]
    scaled = rate(reqs, 4.0)  # count/span = 4/1 s
    assert trace_stats(scaled).mean_rate_rps == pytest.approx(4.0)
    with pytest.raises(InvalidSpec):
        speedup(reqs, 0)
    with pytest.raises(InvalidSpec, match="time span"):
        rate(make([0.0, 0.0]), 1.0)


def test_window_shifts_to_its_start():
    reqs = make([0.0, 1.0, 2.5, 3.0, 9.0])
    assert [r.arrival_s for r in window(reqs, 1.0, 3.0)] == [0.0, 1.5]
    assert [r.arrival_s for r in window(reqs, 2.0)] == [0.5, 1.0, 7.0]
    with pytest.raises(InvalidSpec):
        window(reqs, 3.0, 1.0)


def test_sample_is_seeded_and_limit_takes_the_head():
    reqs = make([float(i) for i in range(2000)])
    first, again, other = sample(reqs, 0.25, seed=3), sample(reqs, 0.25, seed=3), sample(reqs, 0.25, seed=4)
    assert first == again and first != other
    assert 400 < len(first) < 600
    assert [r.request_id for r in limit(reqs, 3)] == [0, 1, 2]
    assert [r.request_id for r in renumber(first)][:3] == [0, 1, 2]


def test_clamp_cuts_output_first_and_keeps_one_token_of_each():
    reqs = make([0.0] * 4, [(100, 50), (10, 200), (60, 60), (500, 500)])
    out, clamped = clamp(reqs, 120)
    # a prompt that fits keeps every token; only a prompt longer than the limit is cut
    assert [(r.input_tokens, r.output_tokens) for r in out] == [(100, 20), (10, 110), (60, 60), (119, 1)]
    assert clamped == 3
    assert all(r.input_tokens + r.output_tokens <= 120 for r in out)
    with pytest.raises(InvalidSpec):
        clamp(reqs, 1)


def test_options_pipeline_on_builtin_trace():
    options = TraceOptions(window_start_s=600, window_end_s=1800, sample_fraction=0.5, sample_seed=1,
                           limit=1000, rate_rps=10.0, max_context=2048)
    trace = load_trace("azure-conv-2023", options)
    stats = trace_stats(trace.requests)
    assert stats.count == 1000
    assert stats.mean_rate_rps == pytest.approx(10.0)
    assert all(r.input_tokens + r.output_tokens <= 2048 for r in trace.requests)
    assert trace.clamped > 0
    assert [r.request_id for r in trace.requests] == list(range(1000))
    assert trace == load_trace("azure-conv-2023", options)  # deterministic


def test_options_are_validated():
    with pytest.raises(InvalidSpec, match="speedup or rate_rps"):
        TraceOptions(speedup=2.0, rate_rps=3.0)
    with pytest.raises(InvalidSpec, match="window_end_s"):
        TraceOptions(window_start_s=5, window_end_s=5)
    with pytest.raises(InvalidSpec, match="sample_fraction"):
        TraceOptions(sample_fraction=0)
