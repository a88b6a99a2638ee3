"""`twin report`: a self-contained HTML file whose plots render in a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from services.cli import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


def twin(db, *args):
    result = CliRunner().invoke(cli, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A report of three runs of one trace, overlaid: a policy that switches KV schemes and fp16 on the Oaken NPU,
    and a labelled DGX H100."""
    tmp = tmp_path_factory.mktemp("report")
    db = f"sqlite:///{tmp / 'runs.db'}"
    policy = tmp / "adaptive.yaml"
    policy.write_text("weights: fp16\nkv: fp16\nrules:\n  - {when: queue_length, above: 20, kv: oaken}\n")
    trace = "synthetic:gamma?rate=30&cv=2&n=400&input=256..2048&output=64..512&seed=2"
    base = ["replay", trace, "--server", "oaken-lpddr", "--model", "llama2-7b", "--json"]
    ids = [json.loads(twin(db, *base, "--policy", str(policy)))["run_id"], json.loads(twin(db, *base))["run_id"]]
    gpu = ["replay", trace, "--server", "dgx-h100", "--model", "llama2-7b", "--label", "H100 baseline", "--json"]
    ids.append(json.loads(twin(db, *gpu))["run_id"])
    out = tmp / "report.html"
    twin(db, "report", *(i[:8] for i in ids), "-o", str(out))
    return out, ids


def test_the_report_is_self_contained(report):
    out, ids = report
    text = out.read_text()
    assert all(i in text for i in ids)
    # No network: no external script, stylesheet or font is referenced.
    assert not re.search(r"""<(script|link)[^>]+(src|href)=["']?https?:""", text)
    assert "plotly" in text and text.count("plotly-graph-div") >= 4
    assert "switch to w:fp16\\u002fkv:oaken" in text  # the policy switch (JSON escapes the slash) is marked on the timelines


def _chromium(args, tmp_path):
    profile = tmp_path / "chromium-profile"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=180)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs Debian's chromium)")
def test_the_plots_render_in_headless_chromium(report, tmp_path):
    out, ids = report
    dom = _chromium(["--dump-dom", out.as_uri()], tmp_path).stdout
    # plotly.js draws each figure into an <svg class="main-svg">; the static HTML has none.
    assert '<svg class="main-svg"' not in out.read_text()
    assert dom.count('class="plot-container plotly"') >= 4
    assert len(re.findall(r'<svg class="main-svg"', dom)) >= 8
    assert re.search(r'class="scatterlayer', dom) and re.search(r'class="barlayer', dom)
    assert "Latency distributions" in dom and ids[0] in dom
    # legends by design, not run ids: the two NPU runs differ only by their policy, so their ids tell them apart
    assert "H100 baseline" in dom and "llama2-7b on oaken-lpddr, tp 1, adaptive KV" in dom
    assert ">new text<" not in dom  # no stray annotation drawn (plotly.js itself holds the words in its source)
    # the efficiency panel: one quantity per axis, each with its unit; area among them
    for title in ("J per output token", "output tok/s per kW", "whole-die area", "output tok/s per mm²"):
        assert title in dom, title
    for unit in (">J<", ">tok/s/kW<", ">W<", ">mm²<"):
        assert unit in dom, unit
    assert "NVLink busy" in dom  # each run's interconnect by its name
    shot = tmp_path / "report.png"
    _chromium([f"--screenshot={shot}", "--window-size=1400,2400", out.as_uri()], tmp_path)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    artifacts = os.environ.get("TWIN_ARTIFACT_DIR")
    if artifacts:
        os.makedirs(artifacts, exist_ok=True)
        shutil.copy(shot, os.path.join(artifacts, "report-screenshot.png"))


def test_component_shares_are_time_over_the_run():
    from services.report_figures import component_shares
    x, y = component_shares({"replica1": {"busy_s": 5.0, "mem_busy_s": 1.0, "steps": 9.0},
                             "replica0": {"esl_exposed_s": 2.0}}, span=10.0)
    assert x == ["replica0: link exposed", "replica1: busy", "replica1: memory streaming"]
    assert y == [0.2, 0.5, 0.1]
