"""`twin replay` with requests longer than the model's context: counted in the human summary, a warning
line for --max-context past the trained context, clamping only when asked (output first)."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from services.cli import cli

TRACE = "synthetic:poisson?rate=5&n=6&input=4096..4096&output=4096..4096&seed=1"  # 4K:4K requests


def invoke(tmp_path, *args):
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'runs.db'}", "replay", TRACE,
                                      "--model", "llama2-7b", "--no-progress", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_default_rejects_and_the_human_summary_says_so(tmp_path):
    out = re.sub(r"[│\s]+", " ", invoke(tmp_path).output)  # undo the table's line wrapping
    assert "6 rejected" in out and "6 too long rejected" in out and "4,096 max context" in out


def test_max_context_runs_them_with_a_warning_line(tmp_path):
    result = invoke(tmp_path, "--max-context", "8192", "--json")
    assert "warning: --max-context 8192 is past llama2-7b's trained context of 4096" in result.stderr
    data = json.loads(result.stdout)
    assert data["summary"]["requests"]["done"] == 6 and data["summary"]["requests"]["rejected"] == 0


def test_clamp_is_counted_in_the_summary(tmp_path):
    data = json.loads(invoke(tmp_path, "--on-long-request", "clamp", "--json").stdout)
    assert data["summary"]["requests"]["clamped"] == 6 and data["summary"]["requests"]["done"] == 6
