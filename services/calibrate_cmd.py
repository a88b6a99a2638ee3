"""`twin validate` and `twin calibrate`: the twin against a user's own measurements.

`validate` replays each measured workload and prints measured against predicted; `calibrate`
fits named physical parameters (twin.measure.fit) and writes them as a user catalogue with
the fit's provenance. Everything is checked before anything is written.
"""

from __future__ import annotations

import json

import click
from rich.table import Table

from twin.errors import InvalidSpec

LABELS = {"ttft": "TTFT", "tpot": "TPOT", "e2e": "end-to-end"}


def _spec(obj, server: str, model: str, tp: int, overrides: dict | None = None):
    from twin.replay import RunSpec
    definitions = obj.catalog.definitions_for(("servers", server), ("models", model)) or None
    obj.catalog.server(server), obj.catalog.model(model)  # unknown names: one line, before any replay
    return RunSpec(server, model, tp=tp, definitions=definitions, overrides=overrides or None)


def _load(files: tuple[str, ...]):
    from twin.measure import load_measurement
    return [load_measurement(f) for f in files]


def _ms(value) -> str:
    return "-" if value is None else f"{1e3 * value:.3f}"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:+.1f} %"


def report_table(title: str, rep: dict) -> Table:
    table = Table(title=title)
    for col in ("metric", "stat", "measured (ms)", "predicted (ms)", "error"):
        table.add_column(col, justify="left" if col in ("metric", "stat") else "right")
    for metric, label in LABELS.items():
        for stat in ("mean", "p50", "p90", "p99"):
            table.add_row(label if stat == "mean" else "", stat, _ms(rep[metric]["measured"][stat]),
                          _ms(rep[metric]["predicted"][stat]), _pct(rep[metric]["error"][stat]))
    tput = rep["throughput_output_tokens_per_s"]
    table.add_row("throughput", "tok/s", f"{tput['measured'] or 0:.1f}", f"{tput['predicted'] or 0:.1f}",
                  _pct(tput["error"]))
    return table


def error_table(rep: dict) -> Table:
    table = Table(title="per-request error, (predicted - measured) / measured")
    for col in ("metric", "p10", "p50", "p90", "mean |error|", "within 10 %"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for metric, label in LABELS.items():
        d = rep[metric]["per_request_error"]
        within = "-" if d["within_10pct"] is None else f"{100 * d['within_10pct']:.0f} %"
        table.add_row(label, _pct(d["p10"]), _pct(d["p50"]), _pct(d["p90"]),
                      "-" if d["mean_abs"] is None else f"{100 * d['mean_abs']:.1f} %", within)
    return table


def measured_run(fn):
    """The measured files and the hardware they were measured on: what validate and calibrate both take."""
    for option in reversed([
            click.argument("measured", nargs=-1, required=True),
            click.option("--server", required=True,
                         help="The measured hardware, a catalogue server (--catalog for yours)."),
            click.option("--model", required=True, help="The measured model, a catalogue model."),
            click.option("--tp", type=click.IntRange(1, 64), default=1, show_default=True,
                         help="Tensor-parallel degree.")]):
        fn = option(fn)
    return fn


@click.command()
@measured_run
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_obj
def validate(obj, measured: tuple[str, ...], server: str, model: str, tp: int, as_json: bool) -> None:
    """Replay each MEASURED run (its arrivals and lengths) and print measured against predicted.

    With --json the per-request values are included: `twin report FILE.json` overlays the measured
    and predicted distributions.

    Operator profiles (Vidur's mlp.csv / attention.csv layout) are compared operator by operator:
    the twin's price of each profiled kernel against its measured time."""
    from services import profile_cmd
    from twin.measure.compare import per_request, predict, report
    spec = _spec(obj, server, model, tp)
    profiles, measured = profile_cmd.split(measured)
    if profiles:
        return _validate_profiles(obj, spec, profiles, as_json)
    out = []
    for m in _load(measured):
        pairs = predict(spec, m)
        out.append({"file": m.path, "sha256": m.sha256, "arrivals": m.arrivals, "failed_in_measurement": m.failed,
                    "notes": m.notes, **report(pairs), "per_request": per_request(pairs)})
    if as_json:
        click.echo(json.dumps({"validation": "twin validate", "server": server, "model": model, "tp": tp,
                               "files": out}, indent=2))
        return
    for rep in out:
        obj.console.print(report_table(f"{rep['file']}: {rep['requests']} requests on {server} / {model}", rep))
        obj.console.print(error_table(rep))
        for note in [f"arrivals {rep['arrivals']}", *rep["notes"]] if rep["arrivals"] != "measured" else rep["notes"]:
            obj.console.print(f"note: {note}")


def _validate_profiles(obj, spec, files: list[str], as_json: bool) -> None:
    from services import profile_cmd
    out = profile_cmd.validate_record(spec, files)
    if as_json:
        click.echo(json.dumps({"server": spec.server, "model": spec.model, "profiles": out}, indent=2))
        return
    for rep in out:
        obj.console.print(profile_cmd.table(f"{rep['file']}: operator times on {spec.server} "
                                            "(price - measured) / measured", rep))


def parse_assignments(values: tuple[str, ...], option: str) -> dict[str, float]:
    out = {}
    for text in values:
        key, sep, value = text.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise InvalidSpec(option, f"expects PARAM=VALUE, got {text[:80]!r}")
    return out


@click.command()
@measured_run
@click.option("--fit", "fit_names", multiple=True, default=("chip.kernel_launch_s",), show_default=True,
              help="A parameter to fit (repeatable): " + ", ".join(
                  ["chip.kernel_launch_s", "server.host.step_overhead_s", "chip.memory.sustained_efficiency",
                   "chip.clock_ghz", "link.hop_latency_s", "link.sync_cycles"]) + ".")
@click.option("--start", "starts", multiple=True, help="PARAM=VALUE: start the fit there, not at the catalogue's "
                                                       "value (within the parameter's bounds).")
@click.option("--folds", type=click.IntRange(1, 10), default=3, show_default=True,
              help="k of the k-fold held-out check for one file (several files: held out by file; 1: none).")
@click.option("--name", default=None, help="The calibrated server's name [default: SERVER-calibrated].")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="A new (or empty) folder for the user catalogue and its calibration.yaml.")
@click.option("--json", "as_json", is_flag=True, help="Print the calibration record as JSON.")
@click.pass_obj
def calibrate(obj, measured: tuple[str, ...], server: str, model: str, tp: int, fit_names: tuple[str, ...],
              starts: tuple[str, ...], folds: int, name: str | None, out_dir: str, as_json: bool) -> None:
    """Fit the named physical parameters to MEASURED runs and write them as a user catalogue in DIR.

    MEASURED may instead be operator profiles (Vidur's layout): the parameters are then fitted to the
    profiled kernel times, held out by tensor-parallel degree."""
    from services import calibration_out, profile_cmd
    from twin.measure.fit import Problem, calibrate as run_fit
    from twin.measure.params import param
    params = [param(n) for n in dict.fromkeys(fit_names)]
    target = calibration_out.check_target(out_dir)
    spec = _spec(obj, server, model, tp)
    start = _starts(spec, params, parse_assignments(starts, "--start"))
    names = calibration_out.derived_names(obj.catalog, server, name, params)
    profiles, measured = profile_cmd.split(measured)
    if profiles:
        record, loaded = profile_cmd.calibrate_record(spec, profiles, params, start, folds)
        record.update(calibration_out.profile_provenance(server, model, loaded, params))
    else:
        measurements = _load(measured)
        record = run_fit(Problem(spec, measurements, params, start), folds)
        record.update(calibration_out.provenance(server, model, tp, measurements, params))
    names = {k: v for k, v in names.items() if k == "server" or any(f.startswith(k + ".") for f in record["fitted"])}
    calibration_out.write(obj.catalog, target, server, names, record)
    if as_json:
        click.echo(json.dumps(record, indent=2, default=float))
        return
    text = profile_cmd.summary_text if profiles else calibration_out.summary_text
    obj.console.print(text(record, names, target))


def _starts(spec, params, given: dict[str, float]) -> dict[str, float]:
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
    from dataclasses import replace
    replace(spec, overrides=start).server_spec()
    return start
