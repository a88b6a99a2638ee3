"""`twin report RUN... -o FILE.html`: one self-contained HTML report of one or more runs (and of
`twin validate --json` files: measured against predicted).

plotly.js is inlined, so the file opens offline; several runs are overlaid in every plot (one
colour each) and set side by side in the spec and summary tables; a search run is shown on its
own, with its trials and Pareto front (services.report_search). Runs are read locally or,
with --controller, through the services, like every `twin runs` command.
"""

from __future__ import annotations

import html
from pathlib import Path

import click

from services.render_summary import flat
from twin.errors import InvalidSpec


def gather(runs, run_ids: list[str]):
    from services.report_figures import RunData
    out = []
    for run_id in run_ids:
        run = runs.get(run_id)
        full = run["run_id"]
        records = [r for page in runs.records(full) for r in page]
        out.append(RunData(run, records, runs.series(full), runs.components(full)))
    from services.metrics.compare import labels  # legends by design, the run id only where two read alike
    for rd, name in zip(out, labels([rd.run.get("spec") for rd in out], [rd.run["run_id"] for rd in out])):
        rd.name = name
    return out


MAX_VALIDATION_BYTES = 256 << 20  # a twin validate --json of a million requests is ~150 MB


def is_validation(arg: str) -> bool:
    return arg.lower().endswith(".json") and Path(arg).is_file()


def load_validation(path: str) -> dict:
    """A `twin validate --json` document, its shape checked: one line if it is not one."""
    import json
    from twin.textfile import read_text
    try:
        doc = json.loads(read_text(path, MAX_VALIDATION_BYTES))
    except ValueError:
        raise InvalidSpec(path[:200], "not JSON: a report reads run ids or `twin validate --json` output") from None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not (isinstance(doc, dict) and doc.get("validation") == "twin validate" and isinstance(files, list) and files
            and all(isinstance(f, dict) and isinstance(f.get("per_request"), dict) for f in files)):
        raise InvalidSpec(path[:200], "not the output of `twin validate --json` (with its per-request values)")
    for f in files:
        for metric in ("ttft", "tpot", "e2e"):
            for side in ("measured", "predicted"):
                values = (f["per_request"].get(metric) or {}).get(side)
                if not isinstance(values, list) or any(v is not None and not isinstance(v, (int, float))
                                                       for v in values):
                    raise InvalidSpec(path[:200], f"{f.get('file')}: per_request.{metric}.{side} must be a list "
                                                  "of times")
    return doc


def validation_section(docs: list[dict], first_colour: int) -> str:
    from services.report_figures import measured_predicted_cdfs
    parts = []
    for doc in docs:
        fig = measured_predicted_cdfs(doc, first_colour)
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}))
        parts.append(side_by_side(f"Measured against predicted: {doc['server']} / {doc['model']}",
                                  [f["file"] for f in doc["files"]],
                                  [{k: f.get(k) for k in ("ttft", "tpot", "e2e", "throughput_output_tokens_per_s")}
                                   for f in doc["files"]]))
        first_colour += len(doc["files"])
    return "".join(parts)


def _verdict(rd) -> str:
    load = rd.summary.get("load")
    if not load:
        return "no load figures in this run's summary"
    offered = load.get("offered_requests_per_s")
    offered = "all at once" if offered is None else f"{offered:,.2f} req/s"
    return (f"offered {offered} vs sustainable ≈{load['sustainable_requests_per_s']:,.2f} req/s: "
            f"<b>{html.escape(load['verdict'])}</b> (saturates: {html.escape(load['saturates'])})")


def side_by_side(title: str, columns: list[str], dicts: list[dict]) -> str:
    """An HTML table of the flattened dicts, one column per run."""
    flats = [dict(flat(d or {})) for d in dicts]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = "".join(f"<tr><td>{html.escape(k)}</td>" + "".join(f"<td>{html.escape(_cell(f.get(k)))}</td>"
                                                              for f in flats) + "</tr>" for k in keys)
    return f"<h2>{html.escape(title)}</h2><table class='kv'><tr><th>key</th>{head}</tr>{rows}</table>"


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.6g}"
    return str(v)


STYLE = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}h1{font-size:22px}
table.kv{border-collapse:collapse;font-size:12px}table.kv td,table.kv th{border:1px solid #ddd;padding:2px 6px;
text-align:right}table.kv td:first-child{text-align:left}.runs li{margin:4px 0}"""


def _divs(figures) -> str:
    return "".join(f.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
                   for f in figures)


def _runs_html(data, validations: list[dict]) -> str:
    """The replays' list, the validations' overlays, plots (overlaid) and side-by-side tables."""
    from services import report_figures as rf
    checked = validation_section(validations, len(data))
    if not data:
        return checked
    figures = [f for f in (rf.latency_cdfs(data), rf.throughput_queue(data), rf.kv_batch(data),
                           rf.utilisation(data), rf.energy(data)) if f is not None]
    runs = "".join(f"<li><span style='color:{rf._colour(i)}'>■</span> <code>{rd.run['run_id']}</code> "
                   f"({html.escape(rd.run['status'])}, trace {html.escape(rd.run['trace'])}): {_verdict(rd)}</li>"
                   for i, rd in enumerate(data))
    labels = [rd.label for rd in data]
    tables = side_by_side("Spec", labels, [rd.run.get("spec") for rd in data]) + \
        side_by_side("Summary", labels, [rd.summary for rd in data])
    return f"<ul class='runs'>{runs}</ul>{checked}{_divs(figures)}{tables}"


def _search_html(data) -> str:
    """Each search run on its own: its recommendation, trials, front and designs (services.report_search)."""
    from services.report_search import search_figures, search_section
    return "".join(search_section(rd.run) + _divs(search_figures(rd.summary)) for rd in data)


def build_html(data, validations: list[dict] | None = None) -> str:
    import plotly.offline
    searches = [rd for rd in data if rd.run.get("kind") == "search"]
    replays = [rd for rd in data if rd.run.get("kind") != "search"]
    title = f"{len(data)} run(s)" + (f", {len(validations)} validation(s)" if validations else "")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>lpu-twin report</title>"
            f"<style>{STYLE}</style><script>{plotly.offline.get_plotlyjs()}</script></head><body>"
            f"<h1>lpu-twin report: {title}</h1>{_runs_html(replays, validations or [])}{_search_html(searches)}"
            f"</body></html>")


@click.command("report")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("-o", "--output", required=True,
              help="HTML file to write (self-contained: opens offline); '-' for standard output.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@click.pass_obj
def report(obj, run_ids: tuple[str, ...], output: str, force: bool) -> None:
    """Write an HTML report with plots of one or more runs (ids: full or unique prefixes), overlaid.

    An argument naming a `twin validate --json` file adds its measured and predicted distributions."""
    from services.output import STDOUT, check_output, write_output
    from services.runs_cmd import backend
    if output != STDOUT and Path(output).suffix.lower() not in (".html", ".htm"):
        raise InvalidSpec(output[:200], "a report is HTML: name it .html (or '-' for standard output)")
    check_output(output, force)
    validations = [load_validation(a) for a in run_ids if is_validation(a)]
    ids = [a for a in run_ids if not is_validation(a)]
    data = []
    if ids:
        with backend(obj) as runs:
            stored = [runs.get(i) for i in ids]  # a stored validation (a controller's) is drawn as one
            validations += [r["summary"] for r in stored if r["kind"] == "validate" and "files" in (r.get("summary") or {})]
            data = gather(runs, [r["run_id"] for r in stored if r["kind"] != "validate"])
    text = build_html(data, validations).encode("utf-8")
    write_output(output, force, lambda path: path.write_bytes(text))
    click.echo(f"wrote {output} ({len(text) / 1e6:.1f} MB, {len(data)} run(s), {len(validations)} validation(s))",
               err=output == STDOUT)
