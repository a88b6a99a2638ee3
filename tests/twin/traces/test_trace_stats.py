"""trace_stats follows the README's definitions and serialises to plain JSON."""

from __future__ import annotations

import json

import pytest

from twin.errors import InvalidSpec
from twin.serving.request import TraceRequest
from twin.traces import trace_stats


def test_definitions_on_a_small_trace():
    reqs = [TraceRequest(i, t, n, 2 * n) for i, (t, n) in enumerate([(0.0, 1), (1.0, 2), (3.0, 3), (4.0, 4)])]
    stats = trace_stats(reversed(reqs))  # order does not matter
    assert (stats.count, stats.span_s, stats.mean_rate_rps) == (4, 4.0, 1.0)
    gaps = [1.0, 2.0, 1.0]
    mean = sum(gaps) / 3
    assert stats.interarrival_cv == pytest.approx((sum((g - mean) ** 2 for g in gaps) / 3) ** 0.5 / mean)
    assert (stats.input.median, stats.input.p90, stats.input.p99) == (2.5, pytest.approx(3.7), pytest.approx(3.97))
    assert (stats.output.min, stats.output.max, stats.output.mean) == (2, 8, 5.0)


def test_undefined_values_are_none_and_json_safe():
    stats = trace_stats([TraceRequest(0, 0.0, 5, 5)])
    assert stats.mean_rate_rps is None and stats.interarrival_cv is None
    data = json.loads(json.dumps(stats.to_dict()))
    assert data["count"] == 1 and data["input"]["max"] == 5


def test_empty_trace_is_rejected():
    with pytest.raises(InvalidSpec):
        trace_stats([])
