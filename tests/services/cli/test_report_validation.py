"""`twin report` on a `twin validate --json` file: measured and predicted distributions overlaid."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from services.cli import cli
from services.report_figures import measured_predicted_cdfs

from test_validate_cmd import measured_by_twin  # this folder is on sys.path (no __init__)


def _validation(tmp_path: Path) -> tuple[Path, Path]:
    measured = measured_by_twin(tmp_path / "m.csv", {"chip.kernel_launch_s": 25e-6})
    result = CliRunner().invoke(cli, ["validate", str(measured), "--server", "h100x1", "--model", "opt-1.3b",
                                      "--json"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "v.json"
    out.write_text(result.output)
    return measured, out


def test_the_measured_curve_is_the_measured_file_and_the_predicted_one_the_twin(tmp_path: Path) -> None:
    measured, path = _validation(tmp_path)
    with measured.open(newline="") as f:
        ttft = sorted(float(r["ttft"]) for r in csv.DictReader(f))
    fig = measured_predicted_cdfs(json.loads(path.read_text()))
    curves = {(t.name, t.xaxis): t for t in fig.data}
    solid = curves["m.csv measured", "x"]
    assert list(solid.x) == pytest.approx(list(np.quantile(ttft, np.linspace(0, 1, len(ttft)))))
    assert solid.line.dash == "solid" and curves["m.csv predicted", "x"].line.dash == "dash"
    # the default launch (6.18 us) is a quarter of the measured machine's (25 us): the twin's TPOTs are faster
    assert np.median(curves["m.csv predicted", "x2"].x) < 0.8 * np.median(curves["m.csv measured", "x2"].x)


def test_report_writes_the_overlay(tmp_path: Path) -> None:
    _, path = _validation(tmp_path)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 't.db'}", "report", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "m.csv measured" in text and "m.csv predicted" in text and "Measured against predicted" in text
    assert "1 validation(s)" in result.output


@pytest.mark.parametrize("content, message", [
    ("{not json", "not JSON"),
    ('{"files": []}', "not the output of `twin validate --json`"),
])
def test_a_json_that_is_not_a_validation_is_refused_in_one_line(tmp_path: Path, content, message) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    result = CliRunner().invoke(cli, ["report", str(path), "-o", str(tmp_path / "r.html")])
    assert result.exit_code != 0 and message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()
