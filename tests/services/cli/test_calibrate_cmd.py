"""`twin calibrate`: parameters recovered from measurements the twin made with known values, an
undetermined parameter reported and left at its default, and a catalogue that loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from services.cli import cli
from twin.serving.request import TraceRequest

from test_validate_cmd import measured_by_twin  # this folder is on sys.path (no __init__): one maker of measurements

WORKLOAD = [TraceRequest(i, 0.25 * i, 64 + 31 * (i % 13), 16 + 7 * (i % 11)) for i in range(40)]




def _calibrate(tmp_path: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 't.db'}", "calibrate", *args,
                                      "--server", "h100x1", "--model", "opt-1.3b", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture(scope="module")
def recovered(tmp_path_factory) -> tuple[dict, Path]:
    tmp = tmp_path_factory.mktemp("cal")
    path = measured_by_twin(tmp / "m.csv", {"chip.kernel_launch_s": 25e-6}, WORKLOAD)
    out = tmp / "hw"
    return _calibrate(tmp, str(path), "--fit", "chip.kernel_launch_s", "--fit", "link.hop_latency_s",
                      "-o", str(out)), out


def test_a_perturbed_kernel_launch_is_fitted_back_within_5_percent(recovered) -> None:
    record, _ = recovered
    assert record["defaults"]["chip.kernel_launch_s"] == pytest.approx(6.18e-6)  # the fit starts far away
    assert record["fitted"]["chip.kernel_launch_s"] == pytest.approx(25e-6, rel=0.05)
    for fold in record["held_out"]:  # and from each two thirds of the requests
        assert fold["fitted"]["chip.kernel_launch_s"] == pytest.approx(25e-6, rel=0.05)
        assert fold["after"]["tpot_median_abs_error"] < 0.05 < 0.3 < fold["before"]["tpot_median_abs_error"]


def test_a_parameter_the_data_cannot_see_is_reported_and_left_at_its_default(recovered) -> None:
    record, out = recovered
    assert "link.hop_latency_s" not in record["fitted"]  # one chip: no collective crosses the link
    assert "undetermined" in record["left_at_default"]["link.hop_latency_s"]
    assert not (out / "links").exists()  # nothing derived for a part left at its defaults


def test_the_written_catalogue_carries_the_fit_and_its_provenance(recovered, tmp_path: Path) -> None:
    record, out = recovered
    chip = yaml.safe_load((out / "chips" / "h100-sxm-calibrated.yaml").read_text())
    assert chip["kernel_launch_s"] == pytest.approx(record["fitted"]["chip.kernel_launch_s"])
    provenance = yaml.safe_load((out / "calibration.yaml").read_text())
    assert len(provenance["files"][0]["sha256"]) == 64 and provenance["date"]
    assert provenance["left_at_default"].keys() == {"link.hop_latency_s"}
    measured = measured_by_twin(tmp_path / "m.csv", {"chip.kernel_launch_s": 25e-6}, WORKLOAD)
    result = CliRunner().invoke(cli, ["--catalog", str(out), "validate", str(measured), "--server",
                                      "h100x1-calibrated", "--model", "opt-1.3b", "--json"])
    assert result.exit_code == 0, result.output
    assert abs(json.loads(result.output)["files"][0]["tpot"]["error"]["mean"]) < 0.05


def test_launch_and_step_overhead_together_are_confounded_or_fitted_consistently(tmp_path: Path) -> None:
    """Both are per-step constants: either the data cannot tell them apart (reported), or the fit
    reproduces the measured TPOT."""
    path = measured_by_twin(tmp_path / "m.csv", {"chip.kernel_launch_s": 25e-6}, WORKLOAD)
    record = _calibrate(tmp_path, str(path), "--fit", "chip.kernel_launch_s", "--fit",
                        "server.host.step_overhead_s", "--folds", "1", "-o", str(tmp_path / "hw"))
    assert record["residuals"]["after"]["tpot_median_abs_error"] < 0.05


def test_fitting_the_eager_launch_under_a_fusing_stack_is_refused_in_one_line(tmp_path: Path) -> None:
    """Under --gpu-stack optimised a replay prices its small kernels with the stack's own figure: a fitted
    chip.kernel_launch_s would change nothing, so the fit is refused before any replay, nothing written."""
    path = measured_by_twin(tmp_path / "m.csv", {}, WORKLOAD[:8])
    out = tmp_path / "hw"
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 't.db'}", "calibrate", str(path), "--server",
                                      "h100x1", "--model", "opt-1.3b", "--gpu-stack", "optimised", "-o", str(out)])
    assert result.exit_code != 0
    assert "chip.kernel_launch_s" in result.output and "--gpu-stack optimised" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())
