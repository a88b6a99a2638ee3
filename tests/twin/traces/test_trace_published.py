"""Built-in and shared public traces load with the counts and statistics published in
shared/traces/README.md (compared at the README's printed precision)."""

from __future__ import annotations

import hashlib
import json

import pytest

from twin.errors import UnknownName
from twin.traces import BUILTIN_TRACES, load_trace, trace_stats

# (mean, median, p90, p99, min, max) as printed by the README's script.
AZURE_CODE = dict(count=8819, span="3435.948", rate="2.5667", cv="13.151",
                  input=("2047.8", "1469.0", "5187.6", "7436.0", 3, 7437),
                  output=("27.9", "13.0", "55.0", "251.5", 6, 1899))
AZURE_CONV = dict(count=19366, span="3501.722", rate="5.5304", cv="1.094",
                  input=("1154.7", "1020.0", "2734.5", "4142.0", 2, 14050),
                  output=("211.1", "129.0", "424.0", "601.0", 7, 1000))
ARXIV = dict(count=28257, input=("2588.1", "2730.0", "3702.0", "3933.4", 1, 4054),
             output=("291.4", "167.0", "372.0", "3271.3", 5, 4056))
SHAREGPT = dict(count=30731, input=("2340.0", "1730.0", "5696.0", "7433.7", 1, 8141),
                output=("438.7", "415.0", "834.0", "998.0", 2, 1024))
RAGPULSE = dict(count=7106, span="604603.000", rate="0.0118", cv="3.061",
                input=("2943.6", "3139.5", "3958.5", "5438.3", 1052, 7712),
                output=("283.2", "234.0", "563.0", "891.0", 7, 2183))

SHARED = {
    "azure_llm_2023/AzureLLMInferenceTrace_code.csv": ("azure2023", AZURE_CODE),
    "azure_llm_2023/AzureLLMInferenceTrace_conv.csv": ("azure2023", AZURE_CONV),
    "vidur/splitwise_code.csv": ("vidur", AZURE_CODE),
    "vidur/splitwise_conv.csv": ("vidur", AZURE_CONV),
    "vidur/arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv": ("lengths", ARXIV),
    "sarathi_serve/sharegpt_8k_filtered_stats_llama2_tokenizer.csv": ("lengths", SHAREGPT),
    "ragpulse/0_trace.jsonl": ("ragpulse", RAGPULSE),
}


def check_published(trace, expected, printed) -> None:
    stats = trace_stats(trace.requests)
    assert stats.count == expected["count"]
    assert [r.request_id for r in trace.requests] == list(range(stats.count))
    assert trace.requests[0].arrival_s == 0.0
    if "span" in expected:
        assert printed(stats.span_s, expected["span"])
        assert printed(stats.mean_rate_rps, expected["rate"])
        assert printed(stats.interarrival_cv, expected["cv"])
    else:  # lengths-only file: documented t=0 arrivals
        assert not trace.timed and stats.span_s == 0.0 and stats.mean_rate_rps is None
    for side in ("input", "output"):
        got = getattr(stats, side)
        mean, median, p90, p99, low, high = expected[side]
        values = (got.mean, got.median, got.p90, got.p99)
        assert [printed(v, t) for v, t in zip(values, (mean, median, p90, p99))] == [True] * 4, (side, values)
        assert (got.min, got.max) == (low, high)


@pytest.mark.parametrize("name, expected", [("azure-code-2023", AZURE_CODE), ("azure-conv-2023", AZURE_CONV)])
def test_builtin_trace_matches_readme(name, expected, printed):
    trace = load_trace(name)
    assert (trace.name, trace.fmt, trace.bad_rows) == (name, "azure2023", 0)
    check_published(trace, expected, printed)


def test_builtin_files_are_unmodified_and_attributed():
    digests = {"azure-conv-2023": "2f1e5b666d4e3055fdbba98598ce2ec307767b9064e03e2fa46676dbcc7d0bf8",
               "azure-code-2023": "54e9a6d2a4bd06ba1e060304b900abbc74cbea53de96506e60fe5bb4f2277fb6"}
    for name, digest in digests.items():
        assert hashlib.sha256(BUILTIN_TRACES[name].path.read_bytes()).hexdigest() == digest
    attribution = (BUILTIN_TRACES["azure-conv-2023"].path.parent / "ATTRIBUTION.md").read_text()
    assert "CC-BY-4.0" in attribution and "Splitwise" in attribution and "2023-11-16" in attribution


def test_unknown_source_lists_builtins():
    with pytest.raises(UnknownName) as raised:
        load_trace("azure-conv-2099")
    assert "azure-conv-2023" in str(raised.value) and "azure-code-2023" in str(raised.value)


@pytest.mark.parametrize("relative", list(SHARED))
def test_shared_trace_matches_readme(shared_traces, relative, printed):
    fmt, expected = SHARED[relative]
    trace = load_trace(str(shared_traces / relative))
    assert trace.fmt == fmt and trace.bad_rows == 0
    check_published(trace, expected, printed)


def test_vidur_copy_equals_rebased_azure(shared_traces):
    azure = load_trace(str(shared_traces / "azure_llm_2023/AzureLLMInferenceTrace_conv.csv")).requests
    vidur = load_trace(str(shared_traces / "vidur/splitwise_conv.csv")).requests
    assert [(r.input_tokens, r.output_tokens) for r in azure] == [(r.input_tokens, r.output_tokens) for r in vidur]
    # README: equal within 0.21 us; the 7th fractional digit must survive parsing.
    assert max(abs(a.arrival_s - v.arrival_s) for a, v in zip(azure, vidur)) < 1e-6


def test_splitwise_sim_sample(shared_traces):
    trace = load_trace(str(shared_traces / "splitwise_sim/test_trace.csv"))
    assert trace.fmt == "splitwise"
    assert [(r.arrival_s, r.input_tokens, r.output_tokens) for r in trace.requests] == [
        (0.0, 4096, 32), (2.0, 2048, 8), (3.0, 2048, 16)]


def test_ragpulse_sorted_stably_with_sessions_and_blocks(shared_traces):
    path = shared_traces / "ragpulse/0_trace.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    expected = sorted(records, key=lambda rec: float(rec["timestamp"]))  # stable, like the reader
    trace = load_trace(str(path))
    assert [r.session_id for r in trace.requests] == [rec["session_id"] for rec in expected]
    assert [r.arrival_s for r in trace.requests] == [float(rec["timestamp"]) for rec in expected]
    assert len({r.session_id for r in trace.requests}) == 3990
    first_in_file = next(r for r in trace.requests if r.session_id == records[0]["session_id"] and r.arrival_s == 82.0)
    assert first_in_file.block_ids == (8302, 14332, 15199, 7398, 7370, 7098, 6967, 7405, 7298, 15200, 26923)
