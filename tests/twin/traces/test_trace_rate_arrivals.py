"""Arrivals drawn at a rate (issue 26, item 4): a lengths-only file at --rate, gamma burstiness as
vLLM's benchmark draws it, and ServeGen's per-client workload files generated into requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from services.cli import cli
from twin.errors import InvalidSpec, TraceFormatError
from twin.traces import TraceOptions, load_trace, trace_stats

DATA = Path(__file__).parent / "data"
SHAREGPT = DATA / "sarathi_serve" / "sharegpt_8k_first1000.csv"  # lengths only, no times
SERVEGEN = DATA / "servegen" / "reason" / "deepseek-r1" / "chunk-16-trace.csv"


def test_a_lengths_only_file_at_a_rate_gets_poisson_arrivals_and_keeps_its_lengths():
    plain = load_trace(SHAREGPT)
    assert {r.arrival_s for r in plain.requests} == {0.0} and not plain.timed
    paced = load_trace(SHAREGPT, TraceOptions(rate_rps=2.0))
    stats = trace_stats(paced.requests)
    assert stats.mean_rate_rps == pytest.approx(2.0, rel=0.1)
    assert stats.interarrival_cv == pytest.approx(1.0, rel=0.1)  # Poisson
    assert [(r.input_tokens, r.output_tokens) for r in paced.requests] == \
           [(r.input_tokens, r.output_tokens) for r in plain.requests]  # file order kept
    assert paced.timed


def test_burstiness_is_the_gamma_shape_and_the_seed_repeats_the_arrivals():
    def cv(burstiness, seed=0):
        trace = load_trace(SHAREGPT, TraceOptions(rate_rps=5.0, burstiness=burstiness, sample_seed=seed))
        return trace_stats(trace.requests).interarrival_cv, [r.arrival_s for r in trace.requests]
    bursty, smooth, poisson = cv(0.25), cv(4.0), cv(1.0)
    assert bursty[0] == pytest.approx(2.0, rel=0.2)  # cv = 1/sqrt(shape)
    assert smooth[0] == pytest.approx(0.5, rel=0.2)
    assert poisson[0] == pytest.approx(1.0, rel=0.15)
    assert poisson[1] == [r.arrival_s for r in load_trace(SHAREGPT, TraceOptions(rate_rps=5.0)).requests]
    assert cv(0.25)[1] == bursty[1] and cv(0.25, seed=1)[1] != bursty[1]


def test_burstiness_redraws_a_timed_trace_and_needs_a_rate():
    trace = load_trace("azure-code-2023", TraceOptions(limit=2000, rate_rps=3.0, burstiness=1.0))
    assert trace_stats(trace.requests).interarrival_cv == pytest.approx(1.0, rel=0.15)  # the file's cv is 13
    with pytest.raises(InvalidSpec, match="burstiness.*rate"):
        TraceOptions(burstiness=0.5)
    with pytest.raises(InvalidSpec, match="burstiness"):
        TraceOptions(rate_rps=1.0, burstiness=0.0)


def test_replay_of_a_lengths_only_file_at_a_rate(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    out = CliRunner().invoke(cli, ["--db", db, "replay", str(SHAREGPT), "--rate", "2", "--burstiness", "0.5",
                                   "--limit", "30", "--model", "llama2-7b", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["summary"]["requests"]["total"] == 30
    refused = CliRunner().invoke(cli, ["--db", db, "replay", str(SHAREGPT), "--burstiness", "2", "--limit", "5"])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert refused.output.count("\n") == 1 and "burstiness" in refused.output


def test_servegen_client_is_generated_window_by_window():
    trace = load_trace(SERVEGEN)
    assert trace.fmt == "servegen"
    rows = [line.split(",") for line in SERVEGEN.read_text().splitlines()]
    busy = [(float(r[0]), float(r[1])) for r in rows if float(r[1]) > 0]
    expected = sum(rate * 600 for _, rate in busy)  # 235 requests
    assert len(trace.requests) == pytest.approx(expected, rel=0.25)
    span = busy[-1][0] + 600 - busy[0][0]
    assert trace.requests[-1].arrival_s < span
    pdfs = json.loads(SERVEGEN.with_name("chunk-16-dataset.json").read_text())["43200"]
    inputs = {int(k) for k in eval_dict(pdfs["input_tokens"])}
    outputs = {int(k) for k in eval_dict(pdfs["output_tokens"])}
    assert {r.input_tokens for r in trace.requests} <= inputs
    assert {r.output_tokens for r in trace.requests} <= outputs
    again = load_trace(SERVEGEN)
    assert again.requests == trace.requests  # seeded
    assert load_trace(SERVEGEN, TraceOptions(sample_seed=1)).requests != trace.requests


def eval_dict(text: str) -> dict:
    import ast
    return ast.literal_eval(text)


def test_servegen_options_apply_and_a_missing_dataset_is_one_line(tmp_path):
    assert len(load_trace(SERVEGEN, TraceOptions(limit=10)).requests) == 10
    paced = load_trace(SERVEGEN, TraceOptions(fmt="servegen", rate_rps=1.0))
    assert trace_stats(paced.requests).mean_rate_rps == pytest.approx(1.0)
    alone = tmp_path / SERVEGEN.name
    alone.write_bytes(SERVEGEN.read_bytes())
    with pytest.raises(TraceFormatError, match="dataset.json beside it"):
        load_trace(alone)


def test_a_controller_request_carries_the_burstiness():
    from services.controller.client import options_msg
    from services.controller.inputs import trace_options
    msg = options_msg({"rate": 2.0, "burstiness": 0.5, "seed": 3})
    assert trace_options(msg) == TraceOptions(rate_rps=2.0, burstiness=0.5, sample_seed=3)
