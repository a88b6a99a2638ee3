"""Synthetic sources: rate and CV hit their targets, seeds reproduce, the syntax is validated."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import InvalidSpec, UnknownName
from twin.traces import TraceOptions, load_trace, parse_synthetic, trace_stats
from twin.traces.arrivals import arrival_times


@pytest.mark.parametrize("source, cv, tolerance", [
    ("synthetic:poisson?rate=5&n=20000&input=1024&output=1024&seed=1", 1.0, 0.05),
    ("synthetic:gamma?cv=3&rate=5&n=20000&input=1024&output=1024&seed=1", 3.0, 0.10),
    ("synthetic:gamma?cv=0.5&rate=5&n=20000&input=1024&output=1024&seed=1", 0.5, 0.05),
])
def test_rate_and_cv_within_tolerance(source, cv, tolerance):
    trace = load_trace(source)
    stats = trace_stats(trace.requests)
    assert stats.count == 20000 and trace.path is None and trace.fmt.startswith("synthetic:")
    assert stats.mean_rate_rps == pytest.approx(5.0, rel=0.05)
    assert stats.interarrival_cv == pytest.approx(cv, rel=tolerance)
    assert (stats.input.min, stats.input.max, stats.output.max) == (1024, 1024, 1024)


def test_seeded_reproducibility_and_independent_streams():
    source = "synthetic:gamma?cv=2&rate=3&n=300&input=10..100&output=1..50&seed=7"
    assert load_trace(source) == load_trace(source)
    assert load_trace(source).requests != load_trace(source.replace("seed=7", "seed=8")).requests
    # The length stream does not depend on the arrival process.
    faster = load_trace(source.replace("rate=3", "rate=6"))
    assert [r.input_tokens for r in faster.requests] == [r.input_tokens for r in load_trace(source).requests]


def test_uniform_ranges_are_inclusive():
    stats = trace_stats(load_trace("synthetic:poisson?rate=1&n=5000&input=10..12&output=3").requests)
    assert (stats.input.min, stats.input.max, stats.output.min, stats.output.max) == (10, 12, 3, 3)


def test_empirical_lengths_from_builtin_and_lengths_file(write):
    trace = load_trace("synthetic:gamma?cv=3&rate=2&n=4000&lengths=azure-conv-2023&seed=2")
    stats = trace_stats(trace.requests)
    assert stats.input.mean == pytest.approx(1154.7, rel=0.05)
    assert stats.output.max <= 1000
    path = write("lens.csv", "num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n"
                             "7,3,10,2.3\n100,1,101,100\nbad,1,1,1\n")
    trace = load_trace(f"synthetic:poisson?rate=1&n=50&lengths={path}", TraceOptions(on_bad_row="skip"))
    assert {(r.input_tokens, r.output_tokens) for r in trace.requests} <= {(7, 3), (100, 1)}
    assert trace.bad_rows == 1


def test_duration_bounds_the_trace():
    times = arrival_times("poisson", 10.0, np.random.default_rng(0), duration_s=100.0)
    assert times[0] == 0.0 and times[-1] < 100.0 and 900 < len(times) < 1100
    capped = arrival_times("poisson", 10.0, np.random.default_rng(0), n=50, duration_s=100.0)
    assert len(capped) == 50


def test_options_apply_to_synthetic_sources():
    trace = load_trace("synthetic:poisson?rate=2&n=100&input=4000&output=500", TraceOptions(max_context=4096, limit=10))
    assert (len(trace.requests), trace.clamped) == (10, 10)
    assert (trace.requests[0].input_tokens, trace.requests[0].output_tokens) == (4000, 96)  # output cut first


@pytest.mark.parametrize("source, field", [
    ("synthetic:weibull?rate=1&n=5&input=1&output=1", "synthetic.process"),
    ("synthetic:poisson?n=5&input=1&output=1", "synthetic.rate"),
    ("synthetic:poisson?rate=0&n=5&input=1&output=1", "synthetic.rate"),
    ("synthetic:poisson?rate=1&input=1&output=1", "synthetic.n"),
    ("synthetic:poisson?rate=1&n=0&input=1&output=1", "synthetic.n"),
    ("synthetic:poisson?rate=1&n=x&input=1&output=1", "synthetic.n"),
    ("synthetic:gamma?rate=1&n=5&input=1&output=1", "synthetic.cv"),
    ("synthetic:poisson?rate=1&n=5&cv=2&input=1&output=1", "synthetic.cv"),
    ("synthetic:poisson?rate=1&n=5&input=1", "synthetic.lengths"),
    ("synthetic:poisson?rate=1&n=5&input=1&output=1&lengths=azure-conv-2023", "synthetic.lengths"),
    ("synthetic:poisson?rate=1&n=5&input=9..2&output=1", "synthetic.input"),
    ("synthetic:poisson?rate=1&n=5&input=1&output=1&color=red", "synthetic.color"),
    ("synthetic:poisson?rate=1&rate=2&n=5&input=1&output=1", "synthetic.rate"),
])
def test_invalid_synthetic_sources_name_the_key(source, field):
    with pytest.raises(InvalidSpec) as raised:
        parse_synthetic(source)
    assert raised.value.field == field


def test_unknown_lengths_source():
    with pytest.raises(UnknownName):
        load_trace("synthetic:poisson?rate=1&n=5&lengths=no-such-trace")
