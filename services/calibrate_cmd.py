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


def _spec(obj, server: str, model: str, tp: int, gpu_stack: str = "eager", overrides: dict | None = None):
    from twin.config import ServingConfig
    from twin.replay import RunSpec
    definitions = obj.catalog.definitions_for(("servers", server), ("models", model)) or None
    obj.catalog.server(server), obj.catalog.model(model)  # unknown names: one line, before any replay
    return RunSpec(server, model, tp=tp, definitions=definitions, overrides=overrides or None,
                   serving=ServingConfig(gpu_stack=gpu_stack))


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
                         help="Tensor-parallel degree."),
            click.option("--gpu-stack", type=click.Choice(["eager", "optimised"]), default="eager",
                         show_default=True, help="The serving software the measurements ran on (GPUs): eager "
                         "PyTorch, or an optimised engine such as vLLM, TensorRT-LLM or Sarathi-Serve.")]):
        fn = option(fn)
    return fn


@click.command()
@measured_run
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_obj
def validate(obj, measured: tuple[str, ...], server: str, model: str, tp: int, gpu_stack: str,
             as_json: bool) -> None:
    """Replay each MEASURED run (its arrivals and lengths) and print measured against predicted.

    With --json the per-request values are included: `twin report FILE.json` overlays the measured
    and predicted distributions. Operator profiles (Vidur's mlp.csv / attention.csv layout) are compared
    operator by operator: the twin's price of each profiled kernel against its measured time. With
    --controller the files are uploaded and the comparison is a run stored by the controller."""
    from services.calibration_job import validation
    spec = _spec(obj, server, model, tp, gpu_stack)
    if obj.controller:
        from services.measure_remote import remote_validate
        doc = remote_validate(obj.console, obj.controller, spec, measured, as_json)
    else:
        doc = validation(spec, list(measured))
    print_validation(obj.console, doc, as_json)


def print_validation(console, doc: dict, as_json: bool) -> None:
    from services import profile_cmd
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    for rep in doc.get("profiles", []):
        console.print(profile_cmd.table(f"{rep['file']}: operator times on {doc['server']} "
                                        "(price - measured) / measured", rep))
    for rep in doc.get("files", []):
        console.print(report_table(f"{rep['file']}: {rep['requests']} requests on {doc['server']} / "
                                   f"{doc['model']}", rep))
        console.print(error_table(rep))
        for note in [f"arrivals {rep['arrivals']}", *rep["notes"]] if rep["arrivals"] != "measured" else rep["notes"]:
            console.print(f"note: {note}")


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
def calibrate(obj, measured: tuple[str, ...], server: str, model: str, tp: int, gpu_stack: str,
              fit_names: tuple[str, ...], starts: tuple[str, ...], folds: int, name: str | None, out_dir: str,
              as_json: bool) -> None:
    """Fit the named physical parameters to MEASURED runs and write them as a user catalogue in DIR.

    MEASURED may instead be operator profiles (Vidur's layout): the parameters are then fitted to the
    profiled kernel times, held out by tensor-parallel degree. With --controller the files are uploaded,
    the fit is a run stored by the controller, and DIR is written here from what it stored."""
    from services import calibration_job, calibration_out, profile_cmd
    target = calibration_out.check_target(out_dir)
    spec = _spec(obj, server, model, tp, gpu_stack)
    job = calibration_job.prepare(obj.catalog, spec, list(measured), fit_names, parse_assignments(starts, "--start"),
                                  folds, name)
    if obj.controller:
        from services.measure_remote import remote_calibrate
        record, names = remote_calibrate(obj.console, obj.controller, job, name, as_json)
    else:
        record, names = calibration_job.run(job)
    calibration_out.write(obj.catalog, target, server, names, record)
    if as_json:
        click.echo(json.dumps(record, indent=2, default=float))
        return
    text = profile_cmd.summary_text if job.profiles else calibration_out.summary_text
    obj.console.print(text(record, names, target))
