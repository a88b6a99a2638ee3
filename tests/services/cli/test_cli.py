"""The `twin` CLI end to end with click's CliRunner and a real SQLite file."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from services.cli import cli


@pytest.fixture
def run(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"

    def invoke(*args, ok=True):
        result = CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=not ok)
        if ok:
            assert result.exit_code == 0, result.output
        return result
    return invoke


def test_replay_prints_json_and_stores_the_run(run):
    out = run("replay", "azure-conv-2023", "--limit", "40", "--model", "opt-1.3b", "--tp", "2",
              "--slo-ttft", "1", "--slo-tpot", "0.05", "--json")
    data = json.loads(out.output)
    assert data["status"] == "complete"
    summary = data["summary"]
    # OPT's 2K context: the conversations that need more are rejected and counted, not clamped
    assert summary["requests"]["done"] + summary["requests"]["too_long_rejected"] == 40
    assert summary["twin"]["tp"] == 2 and summary["twin"]["replicas"] == 4
    assert 0 <= summary["slo"]["attained"] <= 1
    shown = json.loads(run("runs", "show", data["run_id"], "--json").output)
    assert shown["summary"] == summary
    assert data["run_id"][:12] in run("runs", "list").output


def test_replay_human_summary(run):
    out = run("replay", "azure-code-2023", "--limit", "20", "--model", "opt-1.3b", "--no-progress").output
    for label in ("TTFT", "TPOT", "end-to-end", "throughput", "HBM3 bandwidth", "compute utilisation", "ESL ring",
                  "KV cache", "preemptions", "stored as run", "runs.db (SQLite)"):
        assert label in out
    # 20 requests over minutes on a whole server: the summary opens with the load verdict.
    assert out.startswith("offered load") and "headroom" in out.splitlines()[0] + out.splitlines()[1]


def test_trace_stats_and_catalog(run):
    stats = json.loads(run("trace", "stats", "azure-conv-2023", "--json").output)
    assert stats["count"] == 19366 and stats["input"]["p99"] == 4142.0
    out = run("catalog").output
    for name in ("lpu-asic-3280", "esl-asic", "orion-cloud", "mixtral-8x7b"):
        assert name in out


def test_bad_trace_row_names_file_line_and_column(run, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                   "2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:47.0000000,abc,10\n")
    result = run("replay", str(bad), ok=False)
    assert result.exit_code == 1
    assert "bad.csv:3" in result.output and "ContextTokens" in result.output
    skipped = run("replay", str(bad), "--on-bad-row", "skip", "--model", "opt-1.3b", "--json")
    assert json.loads(skipped.output[skipped.output.index("{"):])["summary"]["trace"]["bad_rows_skipped"] == 1


def test_model_that_does_not_fit_is_refused_before_a_run_exists(run):
    result = run("replay", "azure-conv-2023", "--limit", "5", "--model", "llama2-70b", "--tp", "1", ok=False)
    assert result.exit_code == 1
    assert "needs" in result.output and "What would fit: --tp 2" in result.output
    assert "Runs" in run("runs", "list").output and "azure-conv" not in run("runs", "list").output


def test_interrupted_replay_is_marked_with_what_was_kept(tmp_path):
    from services.runner import stored_replay
    from services.store import open_store
    from twin.replay import RunSpec
    from twin.traces import TraceOptions, load_trace
    trace = load_trace("azure-conv-2023", TraceOptions(limit=300))
    calls = []

    def progress(done, total, now):
        calls.append(done)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with open_store(f"sqlite:///{tmp_path / 'i.db'}") as store:
        run_id, result = stored_replay(store, RunSpec("lpu-8x-4nm", "opt-1.3b", tp=1), trace, progress=progress)
        row = store.get_run(run_id)
        kept = store.request_records(run_id, limit=10_000)
    assert result.status == row.status == "interrupted"
    assert "Ctrl-C" in row.error
    assert 0 < len(kept) < 300 and row.summary["requests"]["done"] == len(kept)


def test_replay_with_a_policy_file_and_a_quantized_kv(run, tmp_path):
    from pathlib import Path
    policy = Path(__file__).resolve().parents[3] / "examples" / "policies" / "adaptive.yaml"
    out = json.loads(run("replay", "azure-conv-2023", "--limit", "30", "--server", "oaken-lpddr",
                         "--model", "llama2-7b", "--policy", str(policy), "--json").output)
    assert out["summary"]["quant"]["policy"] == "w:fp16/kv:fp16"
    oaken = json.loads(run("replay", "azure-conv-2023", "--limit", "30", "--server", "oaken-lpddr",
                           "--model", "llama2-7b", "--kv-quant", "oaken", "--json").output)
    q = oaken["summary"]["quant"]
    assert q["kv_bits_per_elem"] == pytest.approx(4.82, abs=0.01)
    assert q["expected_accuracy"]["oaken"]["wikitext2_ppl"] == 5.53  # published, Oaken Table 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {when: heat, above: 1, kv: oaken}\n")
    result = run("replay", "azure-conv-2023", "--policy", str(bad), ok=False)
    assert result.exit_code == 1 and "rules[0].when" in result.output


def test_stored_summaries_validate_against_the_published_schema(run, tmp_path):
    """What the CLI stores (with the trace and load it adds) and a goodput sweep's points (with their rate
    search) are valid against docs/summary.schema.json."""
    from pathlib import Path

    import jsonschema

    from services.store import open_store
    schema = json.loads((Path(__file__).resolve().parents[3] / "docs" / "summary.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    replayed = json.loads(run("replay", "azure-conv-2023", "--limit", "40", "--model", "opt-1.3b", "--json").output)
    out = run("sweep", "azure-conv-2023", "--limit", "40", "--model", "opt-1.3b", "--set", "max_batch=8,16",
              "--find-max-rate", "--slo-ttft", "2", "--jobs", "1", "--json").output
    points = json.loads(out[out.index("{"):])["points"]
    with open_store(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        summaries = [store.get_run(r).summary for r in [replayed["run_id"], *(p["run_id"] for p in points)]]
    assert all("trace" in s and "load" in s for s in summaries)
    assert all("rate_search" in s for s in summaries[1:])
    for summary in summaries:
        errors = [f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in validator.iter_errors(summary)]
        assert not errors, errors


def test_a_gpu_run_speaks_gpu(run):
    """No LPU vocabulary on a GPU run: its link is NVLink, its compute tensor cores; the bottleneck line says
    where the busy time went and what the capacity model says saturates, each labelled."""
    text = run("replay", "azure-conv-2023", "--limit", "60", "--server", "dgx-h100", "--model", "llama2-7b",
               "--no-progress").output
    out = " ".join(text.replace("│", " ").split())  # table cells wrap: read them as one line
    for word in ("ESL", "MAC trees", "SXE", "LPU"):
        assert word not in out, word
    assert "NVLink" in out and "tensor-cores" in out
    assert "busy time went mostly to" in out and "at capacity the load model says" in out


def test_an_overloaded_run_names_the_next_step(run):
    """Half the conversation trace on one 8-LPU server is over capacity: the summary gives the fewest servers
    with headroom from the capacity model, and a replay with them has it (load under 0.8, queueing gone)."""
    import re
    args = ["replay", "azure-conv-2023", "--limit", "4000", "--server", "lpu-8x-4nm", "--model", "llama2-7b",
            "--no-progress"]
    flat = lambda out: " ".join(out.replace("│", " ").split())  # noqa: E731
    first = flat(run(*args).output)
    assert "OVERLOADED" in first and "median TTFT" in first
    servers = int(re.search(r"next step: --servers (\d+)", first).group(1))
    assert servers > 1
    second = json.loads(run(*args[:-1], "--servers", str(servers), "--json").output)["summary"]
    assert second["load"]["verdict"] != "OVERLOADED" and second["load"]["load_factor"] < 0.8
    assert second["load"]["next_step"] is None or second["load"]["verdict"] == "near capacity"
    fewer = json.loads(run(*args[:-1], "--servers", str(servers - 1), "--json").output)["summary"]
    assert fewer["load"]["load_factor"] >= 0.8  # the fewest: one server less has no headroom
    assert "were longer than the 4,096-token context" in first


def test_an_internal_error_is_one_line_not_a_traceback(run, monkeypatch):
    """A bug of ours (here a ZeroDivisionError planted in loading the trace) reaches the user as one line naming
    it; TWIN_DEBUG=1 lets the traceback through for whoever debugs it."""
    import services.replay_cmd

    def broken(*_args, **_kwargs):
        return 1 / 0
    monkeypatch.setattr(services.replay_cmd, "checked_trace", broken)
    result = run("replay", "azure-conv-2023", "--limit", "5", "--no-progress", ok=False)
    assert result.exit_code == 1
    assert "internal error (ZeroDivisionError: division by zero)" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    monkeypatch.setenv("TWIN_DEBUG", "1")
    assert isinstance(run("replay", "azure-conv-2023", "--limit", "5", "--no-progress", ok=False).exception,
                      ZeroDivisionError)
ESCAPES = {  # what a real `twin` process meets outside a command's own error handling
    "start-up": "import services.cli as c\ndef cli(**_): raise RuntimeError('planted at start-up')\nc.cli = cli\nc.main()",
    "a thread": ("import threading, services.cli as c\ndef cli(**_):\n    t = threading.Thread(target=lambda: 1 / 0)\n"
                 "    t.start(); t.join()\nc.cli = cli\nc.main()"),
}


@pytest.mark.parametrize("where", sorted(ESCAPES))
def test_an_error_outside_any_command_is_one_line_in_a_real_process(where):
    """An exception that escapes the command group (start-up) or a background thread still reaches the user
    of the `twin` process as one line (services.cli.main), never a traceback."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TWIN_DEBUG"}
    done = subprocess.run([sys.executable, "-c", ESCAPES[where]], capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: internal error (") and ("RuntimeError" in line or "ZeroDivisionError" in line)
    if where == "start-up":
        assert done.returncode == 1


