"""The human summary: verdict first, one unit per row, and nothing of the JSON silently dropped."""

from __future__ import annotations

import io

from rich.console import Console

from services import render_summary
from services.progress import PlainLines, replay_progress
from twin.replay import RunSpec, replay
from twin.traces import load_trace
from services.runner import trace_info
from twin import capacity


def _summary() -> dict:
    trace = load_trace("synthetic:poisson?rate=1&n=30&input=64..512&output=16..64&seed=1")
    sim = RunSpec(server="lpu-8x-4nm", model="llama2-7b", kv="oaken").build()
    summary = replay(sim, trace.requests).summary
    summary["trace"] = trace_info(trace)
    summary["load"] = capacity.of_simulation(sim, trace.requests)
    return summary


def _text(summary: dict) -> str:
    console = Console(file=io.StringIO(), width=200)
    render_summary.print_summary(console, summary)
    return console.file.getvalue()


def test_unknown_figures_are_shown_not_dropped():
    summary = _summary()
    summary["energy"]["cooling_j"] = 4321.5  # figures the view has no row for yet
    summary["energy"]["per_user_j"] = {"mean": 0.75}
    summary["throughput"]["decode_only_tokens_per_s"] = 987.6
    summary["hardware"]["hbm_refresh_share"] = 0.0123
    summary["requests"]["sorted"] = 7
    out = _text(summary)
    for fragment in ("energy.cooling_j", "4,322", "energy.per_user_j.mean", "J per output token", "987.6 decode only tokens/s",
                     "hardware.hbm_refresh_share", "0.0123", "7 sorted"):
        assert fragment in out, fragment


def test_every_leaf_of_a_real_summary_is_named_in_the_view():
    summary = _summary()
    out = _text(summary)
    assert out.startswith("offered load") and "More" not in out.split("Latency")[0]
    assert "4.82 effective bits" in out and "Wikitext2 perplexity 5.53" in out  # Oaken on Llama2-7B
    assert "HBM3 bandwidth" in out and "clamped" in out
    rest = render_summary.rest_table(summary)
    leftovers = [] if rest is None else [c for c in rest.columns[0]._cells]
    assert all(key in out for key in leftovers)  # shown in the "More" table
    sections = {key.split(".")[0] for key in leftovers}
    assert not sections & {"requests", "trace", "throughput", "hardware", "quant", "energy", "area", "load", "slo"}


def test_a_latency_row_has_one_unit():
    table = render_summary.latency_table({k: {"mean": 0.5, "p50": 0.4, "p90": 3.0, "p99": 12.0, "max": 20.0}
                                          for k in ("ttft_s", "tpot_s", "e2e_s")})
    row = [col._cells[0] for col in table.columns]
    assert row[1] == "s" and row[2] == "0.50" and row[5] == "12.00"


def test_plain_progress_lines_when_stderr_is_not_a_terminal():
    stream, now = io.StringIO(), [0.0]
    lines = PlainLines("replay t", stream, every_s=10, clock=lambda: now[0])
    lines(10, 100, 5.0)  # too soon after the start: nothing
    now[0] = 20.0
    lines(25, 100, 50.0)
    assert stream.getvalue() == "replay t: 25/100 requests (25 %), sim 50 s, elapsed 20 s, ETA 60 s\n"
    stream = io.StringIO()
    with replay_progress("replay x", 5, stream=stream) as update:
        update(5, 5, 1.0)
    assert stream.getvalue().startswith("replay x: 5/5 requests (100 %)")
