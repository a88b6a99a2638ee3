"""Measurements through the services: uploads bounded like trace uploads, calibrations and validations run
and stored by a real controller on a real port, and the CLI's --controller path printing and writing what
the local command does."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import grpc
import pytest
import yaml
from click.testing import CliRunner

from services.cli import cli
from services.common.convert import twin_spec
from services.export import NAMES, row_of
from twin.replay import RunSpec, replay
from twin.serving.request import TraceRequest
from twin_api.v1 import controller_pb2

PROFILE = Path(__file__).parents[2] / "data" / "vidur" / "h100-llama-2-7b-mlp.csv"
FIT = ("--fit", "chip.kernel_launch_s", "--fit", "chip.memory.sustained_efficiency")


def measured(path: Path, n: int = 12, overrides: dict | None = None) -> Path:
    """A twin export of a small workload on h100x1 / opt-1.3b: a measurement whose numbers we know."""
    sim = RunSpec("h100x1", "opt-1.3b", overrides=overrides).build()
    replay(sim, [TraceRequest(i, 0.25 * i, 64 + 31 * (i % 5), 8 + 3 * (i % 4)) for i in range(n)])
    with path.open("w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=NAMES)
        out.writeheader()
        out.writerows(row_of(r) for r in sim.recorder.requests)
    return path


def twin(tmp: Path, *args: str, controller: str | None = None, code: int = 0) -> str:
    where = ["--controller", controller] if controller else []
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp / 'local.db'}", *where, *args])
    assert result.exit_code == code, result.output
    return result.output


def _json_out(text: str) -> dict:
    return json.loads(text[text.index("{"):])  # stderr lines (progress, "stored as run") come first


def test_a_remote_calibration_is_a_stored_run_and_writes_what_the_local_one_writes(stack, tmp_path) -> None:
    args = ("calibrate", str(PROFILE), "--server", "h100x1", "--model", "llama2-7b", *FIT, "--json")
    local = _json_out(twin(tmp_path, *args, "-o", str(tmp_path / "local")))
    remote = _json_out(twin(tmp_path, *args, "-o", str(tmp_path / "remote"), controller=stack.controller_addr))
    assert remote["fitted"] == local["fitted"] and remote["held_out"] == local["held_out"]
    for part in ("servers/h100x1-calibrated.yaml", "chips/h100-sxm-calibrated.yaml"):
        ours, theirs = (yaml.safe_load((tmp_path / d / part).read_text()) for d in ("local", "remote"))
        ours.get("calibration", {}).pop("date", None), theirs.get("calibration", {}).pop("date", None)
        assert ours == theirs
    [run] = [r for r in stack.store.list_runs() if r.kind == "calibrate"]
    row = stack.store.get_run(run.id)
    assert row.status == "complete" and row.trace == PROFILE.name
    assert row.summary["calibration"]["files"][0]["sha256"] == hashlib.sha256(PROFILE.read_bytes()).hexdigest()
    assert row.summary["entries"]["servers"]["name"] == "h100x1-calibrated"
    shown = twin(tmp_path, "runs", "show", run.id[:10], controller=stack.controller_addr)
    assert "chip.kernel_launch_s: 6.18e-06 ->" in shown and "held out, tp 8" in shown


def test_a_remote_validation_is_stored_and_reported(stack, tmp_path) -> None:
    path = measured(tmp_path / "m.csv", overrides={"chip.kernel_launch_s": 25e-6})
    args = ("validate", str(path), "--server", "h100x1", "--model", "opt-1.3b", "--json")
    local = _json_out(twin(tmp_path, *args))
    remote = _json_out(twin(tmp_path, *args, controller=stack.controller_addr))
    assert remote == local
    [run] = [r for r in stack.store.list_runs() if r.kind == "validate"]
    shown = twin(tmp_path, "runs", "show", run.id, controller=stack.controller_addr)
    assert "TPOT" in shown and "per-request error" in shown
    out = tmp_path / "r.html"
    said = twin(tmp_path, "report", run.id[:8], "-o", str(out), controller=stack.controller_addr)
    assert "1 validation(s)" in said and "m.csv measured" in out.read_text()


def _chunks(name: str, data: bytes, size: int = 16 * 1024):
    for at in range(0, len(data), size):
        yield controller_pb2.MeasurementChunk(name=name if at == 0 else "", data=data[at:at + size])


def test_uploads_are_checked_and_bounded_like_trace_uploads(make_stack, sqlite_url, tmp_path) -> None:
    stack = make_stack(sqlite_url, upload_max_bytes=20_000)
    folder = tmp_path / "uploads" / "measurements"
    data = PROFILE.read_bytes()
    with pytest.raises(grpc.RpcError) as big:
        stack.controller.UploadMeasurement(_chunks("mlp.csv", data), timeout=30)
    assert big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "20,000-byte limit" in big.value.details()
    lines = data.split(b"\n")
    bad = b"\n".join([*lines[:4], lines[4].replace(b",True,", b",maybe,"), b""])
    with pytest.raises(grpc.RpcError) as malformed:
        stack.controller.UploadMeasurement(_chunks("mlp.csv", bad), timeout=30)
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert malformed.value.details().startswith("mlp.csv:5: column 'use_gated_mlp'")
    assert list(folder.iterdir()) == []  # nothing kept of a refused upload
    small = b"\n".join(lines[:6]) + b"\n"
    ok = stack.controller.UploadMeasurement(_chunks("mlp.csv", small), timeout=30)
    assert (ok.kind, ok.records, ok.sha256) == ("operator-profile", 5 * 9, hashlib.sha256(small).hexdigest())


@pytest.mark.parametrize("change, named", [
    (dict(fit=["chip.launch"]), "unknown parameter"),
    (dict(start={"chip.kernel_launch_s": 1.0}), "outside its physical bounds"),
    (dict(upload_ids=["0" * 32]), "unknown upload"),
    (dict(spec=twin_spec(RunSpec("h100x1", "opt-1.3b"))), "is not opt-1.3b's"),
])
def test_bad_calibration_requests_are_refused_before_a_run_exists(stack, change, named) -> None:
    upload = stack.controller.UploadMeasurement(_chunks(PROFILE.name, PROFILE.read_bytes()), timeout=30)
    request = dict(upload_ids=[upload.upload_id], spec=twin_spec(RunSpec("h100x1", "llama2-7b")),
                   fit=["chip.kernel_launch_s"])
    request.update(change)
    with pytest.raises(grpc.RpcError) as caught:
        stack.controller.StartCalibration(controller_pb2.CalibrationRequest(**request), timeout=30)
    assert caught.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert named in caught.value.details()
    assert stack.store.list_runs() == []


def test_a_calibration_is_cancelled_between_replays(stack, tmp_path) -> None:
    # 800 requests: a fit replays them dozens of times, seconds even on the compiled core, so the cancel
    # (sent at once) lands between replays rather than after the last
    path = measured(tmp_path / "m.csv", n=800)
    upload = stack.controller.UploadMeasurement(_chunks(path.name, path.read_bytes()), timeout=30)
    run = stack.controller.StartCalibration(controller_pb2.CalibrationRequest(
        upload_ids=[upload.upload_id], spec=twin_spec(RunSpec("h100x1", "opt-1.3b")),
        fit=["chip.kernel_launch_s", "server.host.step_overhead_s"]), timeout=30)
    assert run.kind == "calibrate" and run.status == "running"
    stack.controller.CancelRun(controller_pb2.CancelRunRequest(run_id=run.run_id), timeout=30)
    final = stack.wait(run.run_id)
    assert final.status == "cancelled" and not final.summary_json


def test_a_run_computed_in_the_controller_keeps_its_lease_while_it_stores_nothing(make_stack, sqlite_url,
                                                                                    monkeypatch) -> None:
    """With a 1 s lease, another process opening the database (which ends runs whose lease expired) while a
    job computes for 2.5 s without storing anything finds it alive, and the job completes."""
    import threading
    from services.store import open_store
    monkeypatch.setenv("TWIN_RUN_LEASE_S", "1")
    stack = make_stack(sqlite_url)
    release = threading.Event()

    def body(hook) -> dict:
        assert release.wait(30)
        return {"files": []}
    run_id = stack.runs.start_job("validate", "m.csv", {}, body)
    release_at = threading.Timer(2.5, release.set)  # > two leases without a record stored
    release_at.start()
    try:
        threading.Event().wait(2.0)
        other = open_store(sqlite_url)
        try:
            assert other.get_run(run_id).status == "running"
        finally:
            other.close()
    finally:
        release_at.join()
    assert stack.wait(run_id).status == "complete"
