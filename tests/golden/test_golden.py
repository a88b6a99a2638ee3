"""Seeded golden summaries of small trace slices, diffed against checked-in files.

They catch unintended behaviour changes anywhere in the pipeline. Because the files are
produced by the code under test, `test_golden_figures_are_derivable` checks every headline
figure of each file against something the twin did not compute: counts and tokens against
the trace itself, rates against counts over the makespan, percentile order, and the decode
time per token against the physical floor (each chip streams its share of the weights
once per token at its peak memory bandwidth).

Regenerate with `python tests/golden/regenerate.py`, only when a change is meant to move
the figures (a model, cost or scheduling change, explained in the commit with the diff);
never to make a failing test pass after an unrelated change. The derivation test must pass
on the regenerated files as it is, without loosening.
"""

import json
import math
from pathlib import Path

import pytest

from regenerate import CASES, golden_summary, load_model_ctx  # this folder is on sys.path (no __init__)

from twin.traces import TraceOptions, load_trace

HERE = Path(__file__).resolve().parent


def close(a, b, path=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            close(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_summary(case):
    expected = json.loads((HERE / f"{case}.json").read_text())
    close(golden_summary(case), expected)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_figures_are_derivable(case):
    golden = json.loads((HERE / f"{case}.json").read_text())
    spec, _ = CASES[case]
    trace = "azure-code-2023" if case.startswith("code") else "azure-conv-2023"
    requests = load_trace(trace, TraceOptions(limit=300, max_context=load_model_ctx(spec))).requests
    counts, throughput, span = golden["requests"], golden["throughput"], golden["makespan_s"]
    assert counts["submitted"] == counts["total"] == len(requests) == 300
    assert counts["done"] + counts["rejected"] == counts["total"] and counts["rejected"] == 0
    assert throughput["output_tokens"] == sum(r.output_tokens for r in requests)  # every token made once
    assert span >= requests[-1].arrival_s - requests[0].arrival_s
    assert throughput["output_tokens_per_s"] * span == pytest.approx(throughput["output_tokens"], rel=1e-9)
    assert throughput["requests_per_s"] * span == pytest.approx(counts["done"], rel=1e-9)
    assert throughput["input_tokens_per_s"] * span == pytest.approx(sum(r.input_tokens for r in requests), rel=1e-9)
    for name in ("ttft_s", "tpot_s", "e2e_s"):
        p = golden[name]
        assert 0 < p["p50"] <= p["p90"] <= p["p99"] <= p["max"] and p["mean"] <= p["max"], name
    memory, tp = spec.server_spec().chip.memory, spec.tp
    weights_per_chip = spec.model_spec().published_params_b * 1e9 * 2 / tp  # FP16 weights, split over tp chips
    floor_s = weights_per_chip / (memory.stacks * memory.bandwidth_per_stack_gbps * 1e9)
    assert golden["tpot_s"]["p50"] >= floor_s  # no decode step beats streaming the weights once
