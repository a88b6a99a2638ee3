"""Requests longer than the context: rejected and counted by default, run with a larger limit, or clamped
(output first) and counted. Nothing is cut silently."""

from __future__ import annotations

import pytest

from twin.config import ServingConfig
from twin.errors import InvalidSpec
from twin.replay import RunSpec, replay
from twin.serving.context import clamp_lengths
from twin.serving.request import TraceRequest

REQUESTS = [TraceRequest(0, 0.0, 4096, 4096), TraceRequest(1, 0.5, 3000, 2000), TraceRequest(2, 1.0, 100, 100)]


def run(**serving) -> tuple[dict, list]:
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=8, serving=ServingConfig(**serving)).build()  # 4K context
    result = replay(sim, REQUESTS)
    assert result.status == "complete"
    return result.summary, sorted(sim.recorder.requests, key=lambda r: r.request_id)


def test_4k_4k_request_on_a_4k_model_is_rejected_and_counted_by_default():
    summary, records = run()
    rq = summary["requests"]
    assert (rq["rejected"], rq["too_long_rejected"], rq["clamped"], rq["done"]) == (2, 2, 0, 1)
    assert [r.state for r in records] == ["rejected", "rejected", "done"]
    assert "8192 tokens of context" in records[0].reason and "limit is 4096" in records[0].reason
    assert (records[0].input_tokens, records[0].output_tokens) == (4096, 4096)  # recorded as submitted


def test_max_context_runs_it_whole():
    summary, records = run(max_context=8192)
    assert summary["requests"]["done"] == 3 and summary["requests"]["too_long_rejected"] == 0
    assert [(r.input_tokens, r.output_tokens) for r in records] == [(4096, 4096), (3000, 2000), (100, 100)]
    assert summary["requests"]["max_context"] == 8192


def test_clamp_cuts_the_output_first_and_counts_it():
    summary, records = run(on_long_request="clamp")
    assert summary["requests"]["clamped"] == 2 and summary["requests"]["done"] == 3
    # the prompt that fits keeps every token; the one that does not loses its output, then prompt
    assert [(r.input_tokens, r.output_tokens) for r in records] == [(4095, 1), (3000, 1096), (100, 100)]


@pytest.mark.parametrize("serving", [{}, {"on_long_request": "clamp"}, {"max_context": 8192}])
def test_nothing_is_clamped_silently(serving):
    summary, records = run(**serving)
    changed = sum((r.input_tokens, r.output_tokens) != (q.input_tokens, q.output_tokens)
                  for r, q in zip(records, REQUESTS))
    assert changed == summary["requests"]["clamped"]
    assert summary["requests"]["done"] + summary["requests"]["rejected"] == len(REQUESTS)


def test_clamp_lengths_keeps_one_token_of_each():
    assert clamp_lengths(10, 10, 2) == (1, 1)
    assert clamp_lengths(5000, 10, 4096) == (4095, 1)


def test_bad_limits_are_refused():
    with pytest.raises(InvalidSpec, match="max_context"):
        ServingConfig(max_context=1)
    with pytest.raises(InvalidSpec, match="on_long_request"):
        ServingConfig(on_long_request="truncate")
