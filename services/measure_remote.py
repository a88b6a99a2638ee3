"""`twin --controller ADDR validate|calibrate MEASURED...`: the measured files uploaded, the comparison or
the fit run and stored by the controller, its outcome printed (and a calibration's catalogue written)
here as the local command does. Ctrl-C cancels the run (a second Ctrl-C detaches)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import grpc
from rich.console import Console

from services.common import convert
from services.controller.client import CALL_TIMEOUT_S, CHUNK_BYTES
from services.exits import from_rpc
from twin.errors import TwinError
from twin.replay import RunSpec
from twin_api.v1 import controller_pb2


def _chunks(path: Path) -> Iterator[controller_pb2.MeasurementChunk]:
    with path.open("rb") as f:
        first = True
        while data := f.read(CHUNK_BYTES):
            yield controller_pb2.MeasurementChunk(name=path.name if first else "", data=data)
            first = False


def _run(controller: str, files, start, quiet: bool) -> dict:
    """Upload `files`, start the run (`start(stub, upload ids)`), follow it, and return it once ended."""
    from services.runs_remote import RemoteRuns
    from services.watch import follow_cancelling
    runs = RemoteRuns(controller)
    try:
        ids = [runs.ctl.UploadMeasurement(_chunks(Path(f)), timeout=CALL_TIMEOUT_S).upload_id for f in files]
        run = start(runs.ctl, ids)
        interrupted = follow_cancelling(runs, run.run_id, quiet=quiet)
        outcome = runs.get(run.run_id)
    except grpc.RpcError as exc:
        raise from_rpc(exc, f"controller {controller}") from exc
    finally:
        runs.close()
    if outcome["status"] != "complete":
        if interrupted:
            sys.exit(interrupted)
        raise TwinError(f"run {outcome['run_id']} on {controller} is {outcome['status']}: {outcome['error']}")
    Console(stderr=True).print(f"stored as run {outcome['run_id']} by the controller {controller}")
    return outcome


def _missing(files) -> None:
    for f in files:
        if not Path(f).is_file():
            from twin.errors import InvalidSpec
            raise InvalidSpec(str(f)[:200], "no such measurement file")


def remote_validate(console: Console, controller: str, spec: RunSpec, files, as_json: bool) -> dict:
    _missing(files)
    run = _run(controller, files, lambda stub, ids: stub.StartValidation(
        controller_pb2.ValidationRequest(upload_ids=ids, spec=convert.twin_spec(spec)), timeout=CALL_TIMEOUT_S),
        as_json)
    return run["summary"]


def remote_calibrate(console: Console, controller: str, job, name: str | None, as_json: bool) -> tuple[dict, dict]:
    """The controller's record of the fit and the names of the entries to write (checked here first, as
    the local command checks: a refused calibration uploads nothing)."""
    _missing(job.files)
    request = lambda ids: controller_pb2.CalibrationRequest(  # noqa: E731
        upload_ids=ids, spec=convert.twin_spec(job.spec), fit=[p.key for p in job.params], start=job.start,
        folds=job.folds, name=name or "")
    run = _run(controller, job.files, lambda stub, ids: stub.StartCalibration(request(ids), timeout=CALL_TIMEOUT_S),
               as_json)
    return run["summary"]["calibration"], run["summary"]["names"]
