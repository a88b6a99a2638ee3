"""Measurements uploaded to the controller, and the calibrations and validations run on them.

Uploads are bounded, kept and expired exactly as trace uploads (services.controller.uploads), in a
folder of their own beside them; each is read whole on arrival (a request measurement or an operator
profile), so a malformed file is refused then, naming its line and column. A calibration or a
validation is a run stored like a replay: RUNNING at once, computed in the controller's run pool (a
fit replays the measured workload hundreds of times in-process: its replays are not streamed to the
cluster), cancellable between replays, its summary the record the CLI prints or writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services import calibration_job
from services.common import convert
from services.controller.uploads import Upload, UploadStore
from twin.errors import InvalidSpec

FOLDER = "measurements"  # beside the trace uploads; an upload id is never a word, so never cleaned as one


@dataclass(frozen=True)
class Checked:
    """What an upload held: request measurement or operator profile, how many records, its hash."""

    kind: str
    records: int
    sha256: str


class MeasurementUploads(UploadStore):
    def load(self, upload: Upload, options=None) -> Checked:  # type: ignore[override]
        """The upload read as a measurement; errors name the uploaded file (its own name, kept)."""
        from services.profile_cmd import split
        from twin.measure import load_measurement
        from twin.measure.profiles import load_profile
        path = str(upload.path)
        profiles, _ = split((path,))
        if profiles:
            profile = load_profile(path)
            return Checked("operator-profile", len(profile.samples), profile.sha256)
        measurement = load_measurement(path)
        return Checked("requests", len(measurement.requests), measurement.sha256)

    @classmethod
    def beside(cls, traces: UploadStore) -> MeasurementUploads:
        return cls(Path(traces.folder) / FOLDER, traces.max_bytes, traces.ttl_s)


def _files(uploads: MeasurementUploads, ids, limits) -> list[str]:
    if not ids:
        raise InvalidSpec("upload_ids", "name at least one uploaded measurement")
    found = [uploads.get(i) for i in dict.fromkeys(ids)]
    limits.check_requests(sum(uploads.load(u).records for u in found))
    return [str(u.path) for u in found]


def start_calibration(request, uploads: MeasurementUploads, runs) -> str:
    """Everything checked before the run exists (as the CLI checks before it fits), then the run."""
    spec = convert.run_spec(request.spec)
    runs.run_limits.check_spec(spec)
    files = _files(uploads, list(request.upload_ids), runs.run_limits)
    job = calibration_job.prepare(spec.catalog(), spec, files, list(request.fit), dict(request.start),
                                  request.folds or 3, request.name or None)

    def body(hook) -> dict:
        from services.calibration_out import entries
        record, names = calibration_job.run(job, hook)
        return {"calibration": record, "names": names,
                "entries": entries(spec.catalog(), spec.server, names, record)}
    stored = {**spec.to_dict(), "fit": [p.key for p in job.params], "start": job.start, "folds": job.folds}
    return runs.start_job("calibrate", _label(files), stored, body)


def start_validation(request, uploads: MeasurementUploads, runs) -> str:
    spec = convert.run_spec(request.spec)
    runs.run_limits.check_spec(spec)
    files = _files(uploads, list(request.upload_ids), runs.run_limits)
    from services.profile_cmd import split
    split(tuple(files))  # a mix of profiles and request measurements is refused now, not in the run
    return runs.start_job("validate", _label(files), spec.to_dict(),
                          lambda hook: calibration_job.validation(spec, files))


def _label(files: list[str]) -> str:
    """The run's `trace`: the measured files' names."""
    names = ", ".join(Path(f).name for f in files)
    return names if len(names) <= 200 else names[:197] + "..."
