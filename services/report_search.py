"""The figures and table of a search run in `twin report`: its trials, its front and its recommendation.

A search run stores every trial of its study in its summary (services.search_view), so the report
needs nothing else: the trials in the order they ran (feasible, infeasible, the best so far), the
objective space with the Pareto front (with one objective, the objective against the budget it is
held to), and the design fields of the feasible trials as parallel coordinates.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

from services.search_view import limit_text
from twin.explore.design import BUDGETS

FEASIBLE, INFEASIBLE, FRONT = "#1f77b4", "#bbbbbb", "#d62728"


def _value(row: dict, key: str):
    return row["objectives"].get(key, row["figures"].get(key))


def trials_figure(summary: dict) -> go.Figure:
    """The first objective of each trial in the order the study ran them, and the best feasible so far."""
    goal, sense = next(iter(summary["objectives"].items()))
    rows = sorted(summary["trials"], key=lambda r: r["trial"])
    fig = go.Figure()
    for feasible, colour, name in ((True, FEASIBLE, "feasible"), (False, INFEASIBLE, "infeasible")):
        part = [r for r in rows if r["feasible"] == feasible and _value(r, goal) is not None]
        fig.add_trace(go.Scatter(x=[r["trial"] for r in part], y=[_value(r, goal) for r in part], mode="markers",
                                 name=name, marker={"color": colour, "symbol": "circle" if feasible else "x"},
                                 text=[_hover(r) for r in part], hoverinfo="text"))
    best, xs, ys = None, [], []
    for r in rows:
        v = _value(r, goal) if r["feasible"] else None
        if v is not None and (best is None or (v > best if sense == "max" else v < best)):
            best = v
        if best is not None:
            xs.append(r["trial"])
            ys.append(best)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="best feasible so far", line={"color": FRONT,
                                                                                        "shape": "hv"}))
    fig.update_xaxes(title_text="trial")
    fig.update_yaxes(title_text=f"{goal} ({sense})")
    return _layout(fig, f"Trials of study {summary['study']}: {goal} in the order they ran")


def front_figure(summary: dict) -> go.Figure:
    """Objective space: every trial, the Pareto front joined. With one objective, against its first budget."""
    goals = list(summary["objectives"])
    x_key = goals[1] if len(goals) > 1 else _budget_figure(summary)
    y_key = goals[0]
    fig = go.Figure()
    rows = [r for r in summary["trials"] if _value(r, x_key) is not None and _value(r, y_key) is not None]
    for feasible, colour, name in ((True, FEASIBLE, "feasible"), (False, INFEASIBLE, "infeasible")):
        part = [r for r in rows if r["feasible"] == feasible]
        fig.add_trace(go.Scatter(x=[_value(r, x_key) for r in part], y=[_value(r, y_key) for r in part],
                                 mode="markers", name=name, text=[_hover(r) for r in part], hoverinfo="text",
                                 marker={"color": colour, "symbol": "circle" if feasible else "x"}))
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: _value(r, x_key))
    fig.add_trace(go.Scatter(x=[_value(r, x_key) for r in front], y=[_value(r, y_key) for r in front],
                             mode="lines+markers", name="Pareto front", text=[_hover(r) for r in front],
                             hoverinfo="text", marker={"color": FRONT, "size": 10}, line={"color": FRONT}))
    for bound in _bounds(summary, x_key):
        fig.add_vline(x=bound, line_dash="dash", line_color="#555", annotation_text=f"{x_key} ≤ {bound:g}")
    fig.update_xaxes(title_text=x_key)
    fig.update_yaxes(title_text=y_key)
    return _layout(fig, f"Objective space: {y_key} against {x_key}, the Pareto front in red")


def design_figure(summary: dict) -> go.Figure | None:
    """The design fields of the feasible trials as parallel coordinates, coloured by the first objective."""
    goal = next(iter(summary["objectives"]))
    rows = [r for r in summary["trials"] if r["feasible"] and _value(r, goal) is not None]
    fields = list(dict.fromkeys(k for r in rows for k in r["values"]))
    if not rows or not fields:
        return None
    dims = [_dimension(f, [r["values"].get(f) for r in rows]) for f in fields]
    dims.append({"label": goal, "values": [_value(r, goal) for r in rows]})
    fig = go.Figure(go.Parcoords(line={"color": [_value(r, goal) for r in rows], "colorscale": "Viridis",
                                       "showscale": True}, dimensions=dims))
    fig = _layout(fig, f"Feasible designs: each line a trial, coloured by {goal}")
    fig.update_layout(margin={"t": 130})  # room for the axis names above the axes
    return fig


def _dimension(field: str, values: list) -> dict:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return {"label": field, "values": values}
    names = sorted({str(v) for v in values})  # a choice of names: one tick per name
    return {"label": field, "values": [names.index(str(v)) for v in values], "tickvals": list(range(len(names))),
            "ticktext": names}


def _budget_figure(summary: dict) -> str:
    for text in summary.get("constraints", []):
        figure = text.split("<=")[0] if "<=" in text else None
        if figure in BUDGETS:
            return figure
    return "total_mm2"


def _bounds(summary: dict, figure: str) -> list[float]:
    return [float(t.split("<=")[1]) for t in summary.get("constraints", []) if t.startswith(f"{figure}<=")]


def _hover(r: dict) -> str:
    values = "<br>".join(f"{k} = {v:,.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in r["values"].items())
    why = "" if r["feasible"] else f"<br>infeasible{': ' + r['error'][:80] if r['error'] else ''}"
    return f"trial {r['trial']}<br>{values}{why}"


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, height=460, template="plotly_white", margin={"t": 80, "l": 60, "r": 20})
    return fig


def search_figures(summary: dict) -> list[go.Figure]:
    return [f for f in (trials_figure(summary), front_figure(summary), design_figure(summary)) if f is not None]


def search_section(run: dict) -> str:
    """A search run's heading, recommendation and trial table (the figures go beside it)."""
    s = run.get("summary") or {}
    rec = s.get("recommended")
    head = (f"<h2>Search {html.escape(run['run_id'])}: study {html.escape(str(s.get('study')))}</h2>"
            f"<p>{s.get('complete', 0)} trials, {s.get('feasible', 0)} feasible; objectives "
            f"{html.escape(', '.join(f'{k}:{v}' for k, v in s.get('objectives', {}).items()))}; constraints "
            f"{html.escape(', '.join(s.get('constraints', [])) or 'none')}</p>")
    if rec:
        design = ", ".join(f"{k}={v:,.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec["values"].items())
        head += (f"<p><b>Recommended</b>: trial {rec['trial']} ({html.escape(design)}), run "
                 f"<code>{html.escape(str(rec['run_id']))}</code>; limited by {html.escape(limit_text(rec))}</p>")
    return head + _table(s)


def _table(summary: dict) -> str:
    rows = summary.get("trials", [])
    fields = list(dict.fromkeys(k for r in rows for k in r["values"]))
    goals = list(summary.get("objectives", {}))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["trial", *fields, *goals, "feasible", "front", "run"])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in (
        r["trial"], *(r["values"].get(f) for f in fields), *(r["objectives"].get(g) for g in goals),
        "yes" if r["feasible"] else "no", "*" if r["pareto"] else "", (r["run_id"] or "")[:12])) + "</tr>"
        for r in rows)
    return f"<table class='kv'><tr>{head}</tr>{body}</table>"


def _cell(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.4g}" if isinstance(v, float) else str(v)
