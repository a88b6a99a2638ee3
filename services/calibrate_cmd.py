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


@click.command()
@click.argument("measured", nargs=-1, required=True)
@click.option("--server", required=True, help="The measured hardware, a catalogue server (--catalog for yours).")
@click.option("--model", required=True, help="The measured model, a catalogue model.")
@click.option("--tp", type=click.IntRange(1, 64), default=1, show_default=True, help="Tensor-parallel degree.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_obj
def validate(obj, measured: tuple[str, ...], server: str, model: str, tp: int, as_json: bool) -> None:
    """Replay each MEASURED run (its arrivals and lengths) and print measured against predicted."""
    from twin.measure.compare import predict, report
    spec = _spec(obj, server, model, tp)
    out = []
    for m in _load(measured):
        rep = report(predict(spec, m))
        out.append({"file": m.path, "sha256": m.sha256, "arrivals": m.arrivals, "failed_in_measurement": m.failed,
                    "notes": m.notes, **rep})
    if as_json:
        click.echo(json.dumps({"server": server, "model": model, "tp": tp, "files": out}, indent=2))
        return
    for rep in out:
        obj.console.print(report_table(f"{rep['file']}: {rep['requests']} requests on {server} / {model}", rep))
        obj.console.print(error_table(rep))
        for note in [f"arrivals {rep['arrivals']}", *rep["notes"]] if rep["arrivals"] != "measured" else rep["notes"]:
            obj.console.print(f"note: {note}")


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
