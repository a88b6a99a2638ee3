"""`twin validate` and `twin calibrate` on operator profiles (Vidur's profiling CSVs): the twin's price of
each profiled operator against its measured kernel time, and chip parameters fitted to them."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from twin.errors import InvalidSpec


def split(files: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(operator profiles, request measurements) among the measured files; a mix is refused."""
    from twin.measure.profiles import is_profile
    profiles = [f for f in files if Path(f).suffix.lower() == ".csv" and Path(f).is_file() and is_profile(Path(f))]
    others = [f for f in files if f not in profiles]
    if profiles and others:
        raise InvalidSpec(others[0][:200], "is a request measurement and the other files operator profiles: "
                                           "validate or calibrate them apart")
    return profiles, others


def load(spec, files: list[str]):
    from twin.measure.operators import check_model
    from twin.measure.profiles import load_profile
    profiles = [load_profile(f) for f in files]
    model = spec.model_spec()
    for p in profiles:
        check_model(p, model)
    return profiles


def validate_record(spec, files: list[str]) -> list[dict]:
    from twin.measure.operators import profiled_chip, report
    chip = profiled_chip(spec)  # its weights streamed as its GPU stack streams them
    return [{"file": p.path, "sha256": p.sha256, "layout": p.layout, **report(chip, p.samples)}
            for p in load(spec, files)]


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:+.1f} %"


def table(title: str, rep: dict) -> Table:
    out = Table(title=title)
    for col in ("operator", "samples", "median |error|", "p90 |error|", "signed median"):
        out.add_column(col, justify="left" if col == "operator" else "right")
    rows = [*rep["operators"].items(), *((f"all {k}", v) for k, v in rep["kinds"].items()), ("all", rep["all"])]
    for name, st in rows:
        out.add_row(name, str(st["samples"]), _pct(st["median_abs_error"]).lstrip("+"),
                    _pct(st["p90_abs_error"]).lstrip("+"), _pct(st["signed_median_error"]))
    return out


def calibrate_record(spec, files: list[str], params, start: dict[str, float], folds: int,
                     hook=None) -> tuple[dict, list]:
    from twin.measure.operators import OperatorProblem, calibrate
    profiles = load(spec, files)
    return calibrate(OperatorProblem(spec, profiles, params, start, hook=hook), folds), profiles


def summary_text(record: dict, names: dict[str, str], target: Path | None) -> str:
    from services.calibration_out import fit_text
    samples = sum(f["samples"] for f in record["files"])
    head = f"calibrated {record['server']} on {samples} profiled operator times ({record['evaluations']} evaluations)"
    overall = ("all samples", record["residuals"]["before"]["all"], record["residuals"]["after"]["all"])
    return fit_text(head, overall, record, names, target, _errors)


def _errors(label: str, before: dict, after: dict) -> str:
    def pct(d, k):
        return "-" if d[k] is None else f"{100 * d[k]:.1f} %"
    return (f"  {label}: median |error| {pct(before, 'median_abs_error')} -> {pct(after, 'median_abs_error')}, "
            f"p90 {pct(before, 'p90_abs_error')} -> {pct(after, 'p90_abs_error')}")
