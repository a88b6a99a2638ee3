"""`twin validate`: a measured run replayed on the twin, measured against predicted."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from services.cli import cli
from services.export import NAMES, row_of
from twin.replay import RunSpec, replay
from twin.serving.request import TraceRequest

WORKLOAD = [TraceRequest(i, 0.2 * i, 64 + 37 * (i % 7), 8 + 5 * (i % 5)) for i in range(24)]


def measured_by_twin(path: Path, overrides: dict | None = None, workload=WORKLOAD) -> Path:
    """A twin export of the workload on h100x1 / opt-1.3b with `overrides`: a 'measurement' we know."""
    sim = RunSpec("h100x1", "opt-1.3b", overrides=overrides).build()
    replay(sim, workload)
    with path.open("w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=NAMES)
        out.writeheader()
        out.writerows(row_of(r) for r in sim.recorder.requests)
    return path


def _validate(tmp_path: Path, path: Path) -> dict:
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 't.db'}", "validate", str(path),
                                      "--server", "h100x1", "--model", "opt-1.3b", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["files"][0]


def test_the_twin_validates_against_itself_with_no_error(tmp_path: Path) -> None:
    rep = _validate(tmp_path, measured_by_twin(tmp_path / "m.csv"))
    for metric in ("ttft", "tpot", "e2e"):
        assert all(abs(e) < 1e-6 for e in rep[metric]["error"].values())
        assert rep[metric]["per_request_error"]["within_10pct"] == 1.0
    assert abs(rep["throughput_output_tokens_per_s"]["error"]) < 1e-6


def test_a_slower_machine_shows_as_the_twin_predicting_too_fast(tmp_path: Path) -> None:
    rep = _validate(tmp_path, measured_by_twin(tmp_path / "m.csv", {"chip.kernel_launch_s": 25e-6}))
    assert rep["tpot"]["error"]["mean"] < -0.2  # the twin's default launch cost is a third of the measured one
    assert rep["tpot"]["per_request_error"]["p90"] < -0.2
    assert rep["requests"] == 24


def test_validate_prints_every_metric_and_the_error_distribution(tmp_path: Path) -> None:
    path = measured_by_twin(tmp_path / "m.csv")
    result = CliRunner().invoke(cli, ["validate", str(path), "--server", "h100x1", "--model", "opt-1.3b"])
    assert result.exit_code == 0, result.output
    for word in ("TTFT", "TPOT", "end-to-end", "throughput", "p99", "per-request error"):
        assert word in result.output
