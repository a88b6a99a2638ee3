"""What `twin calibrate` and `twin validate` do, apart from where they run: checked inputs first, then
the fit or the comparison. The CLI runs them in-process; the controller runs them as stored runs of
uploaded measurements (services.controller.measurements)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from twin.errors import InvalidSpec
from twin.replay import RunSpec

VALIDATION = "twin validate"  # what a validation document says it is (twin report reads it back)


@dataclass
class CalibrationJob:
    spec: RunSpec
    files: list[str]  # measured files (paths): all operator profiles, or all request measurements
    profiles: bool
    params: list
    start: dict[str, float]
    folds: int
    names: dict[str, str]  # derived catalogue entries: server, and chip / link when a fitted field is theirs


def prepare(catalog, spec: RunSpec, files: list[str], fit_names, starts: dict[str, float], folds: int,
            name: str | None) -> CalibrationJob:
    """Every check that needs no replay: parameter names and bounds, names of the entries to write, files."""
    from services import calibration_out, profile_cmd
    from twin.measure.params import param
    params = [param(n) for n in dict.fromkeys(fit_names)]
    if not params:
        raise InvalidSpec("--fit", "name at least one parameter to fit")
    start = starts_of(spec, params, starts)
    names = calibration_out.derived_names(catalog, spec.server, name, params)
    profiles, others = profile_cmd.split(tuple(files))
    if profiles:
        profile_cmd.load(spec, profiles)  # shapes not the model's: refused before any run exists
    elif "chip.kernel_launch_s" in {p.key for p in params} and spec.served_server().chip.fused_kernels:
        raise InvalidSpec("--fit", f"chip.kernel_launch_s is the eager stack's time per small kernel: under "
                                   f"--gpu-stack {spec.serving.gpu_stack} the stack's own figure prices them, so "
                                   "fitting it would change nothing; fit other parameters, or use --gpu-stack eager")
    return CalibrationJob(spec, profiles or others, bool(profiles), params, start, folds, names)


def starts_of(spec: RunSpec, params, given: dict[str, float]) -> dict[str, float]:
    """Each parameter's start (given, else the catalogue's value), checked against its bounds; every
    override is tried on the hardware here, so a field the server lacks is refused before any replay."""
    from twin.measure.params import param
    for key in given:
        if key not in {p.key for p in params}:
            param(key)  # an unknown name says so
            raise InvalidSpec("--start", f"{key} is not among the --fit parameters")
    base = spec.server_spec()
    start = {p.key: given.get(p.key, p.value_in(base)) for p in params}
    for p in params:
        p.check(start[p.key], "--start" if p.key in given else f"{spec.server}: {p.key}")
    replace(spec, overrides=start).server_spec()
    return start


def run(job: CalibrationJob, hook: Callable[[int], None] | None = None) -> tuple[dict, dict[str, str]]:
    """(the calibration record with its provenance, the names of the entries it derives). `hook` is called
    with the evaluations so far before each new one (progress; it may raise to stop the fit)."""
    from services import calibration_out, profile_cmd
    from twin.measure import load_measurement
    from twin.measure.fit import Problem, calibrate
    spec = job.spec
    if job.profiles:
        record, loaded = profile_cmd.calibrate_record(spec, job.files, job.params, job.start, job.folds, hook)
        record.update(calibration_out.profile_provenance(spec.server, spec.model, loaded, job.params))
    else:
        measurements = [load_measurement(f) for f in job.files]
        record = calibrate(Problem(spec, measurements, job.params, job.start, hook=hook), job.folds)
        record.update(calibration_out.provenance(spec.server, spec.model, spec.tp, measurements, job.params))
    names = {k: v for k, v in job.names.items()
             if k == "server" or any(f.startswith(k + ".") for f in record["fitted"])}
    return record, names


def validation(spec: RunSpec, files: list[str], names: list[str] | None = None) -> dict:
    """The comparison document `twin validate --json` prints; `names`: the files' names to show, when
    `files` are where they were uploaded to."""
    from services import profile_cmd
    from twin.measure import load_measurement
    from twin.measure.compare import per_request, predict, report
    head = {"validation": VALIDATION, "server": spec.server, "model": spec.model, "tp": spec.tp}
    profiles, others = profile_cmd.split(tuple(files))
    if profiles:
        return {**head, "profiles": profile_cmd.validate_record(spec, profiles)}
    out = []
    for i, path in enumerate(others):
        m = load_measurement(path)
        pairs = predict(spec, m)
        out.append({"file": names[i] if names else m.path, "sha256": m.sha256, "arrivals": m.arrivals,
                    "failed_in_measurement": m.failed, "notes": m.notes, **report(pairs),
                    "per_request": per_request(pairs)})
    return {**head, "files": out}
