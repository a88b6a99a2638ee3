"""What a sweep shows: each point's key figures, sorted by the objective, the Pareto front marked."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from twin.explore.pareto import pareto_front
from twin.summary import dig


def figures(summary: dict | None) -> dict:
    """The figures a sweep compares, from one point's run summary."""
    s = summary or {}
    return {"output_tokens_per_s": dig(s, "throughput", "output_tokens_per_s"),
            "ttft_p99_s": dig(s, "ttft_s", "p99"), "tpot_p99_s": dig(s, "tpot_s", "p99"),
            "slo_attained": dig(s, "slo", "attained"), "j_per_output_token": dig(s, "energy", "j_per_output_token"),
            "output_tok_s_per_kw": dig(s, "energy", "output_tok_s_per_kw"),
            "avg_power_w": dig(s, "energy", "avg_power_w"),
            "total_mm2": dig(s, "area", "total_mm2")}


def sweep_summary(rows: list[dict], find_max_rate: bool) -> dict:
    """Rows sorted by the objective (best first), each with `pareto` true where no other row dominates it."""
    objective = "goodput_rps" if find_max_rate else "output_tokens_per_s"
    ordered = sorted(rows, key=lambda r: -(r.get(objective) or 0.0))
    done = [r for r in ordered if r["status"] == "complete"]
    senses = {objective: "max", "tpot_p99_s": "min", "j_per_output_token": "min", "total_mm2": "min"}
    front = {id(done[i]) for i in pareto_front(done, senses)}
    for r in ordered:
        r["pareto"] = id(r) in front
    return {"objective": objective, "pareto_over": senses, "points": ordered,
            "complete": len(done)}


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(console: Console, summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    points = summary["points"]
    axes = list(points[0]["values"]) if points else []
    t = Table(title=f"sweep, sorted by {summary['objective']} (* = Pareto front over "
                    f"{', '.join(summary['pareto_over'])})", title_justify="left")
    for col in ["", *axes, "goodput req/s", "out tok/s", "p99 TTFT s", "p99 TPOT ms", "SLO %", "J/token",
                "tok/s/kW", "mm²", "status"]:
        t.add_column(col, no_wrap=True)
    for r in points:
        t.add_row("*" if r.get("pareto") else "", *(str(r["values"][a]) for a in axes),
                  _fmt(r.get("goodput_rps"), ".3g"), _fmt(r.get("output_tokens_per_s"), ",.0f"),
                  _fmt(r.get("ttft_p99_s"), ".3g"), _fmt(r.get("tpot_p99_s") and r["tpot_p99_s"] * 1e3, ".3g"),
                  _fmt(r.get("slo_attained") and 100 * r["slo_attained"], ".1f"),
                  _fmt(r.get("j_per_output_token"), ".3g"),
                  _fmt(r.get("output_tok_s_per_kw"), ",.0f"), _fmt(r.get("total_mm2"), ",.1f"),
                  r["status"] if not r.get("error") else f"{r['status']}: {r['error'][:60]}")
    wide = console if console.is_terminal else Console(width=200, file=console.file)
    wide.print(t)
