"""What a search shows: every trial of its study (feasible or not), the best feasible trials marked."""

from __future__ import annotations

import json
import math

from rich.console import Console
from rich.table import Table

from twin.explore.design import BUDGETS, limiting_budget
from twin.explore.pareto import pareto_front
from twin.explore.space import Objective


def trial_row(trial, objectives: tuple[Objective, ...]) -> dict:
    """One Optuna trial as the search summary stores it."""
    attrs = trial.user_attrs
    feasible = trial.state.name == "COMPLETE" and all(v <= 0 for v in attrs.get("constraints", [1.0]))
    values = trial.values or []
    return {"trial": trial.number, "state": trial.state.name.lower(), "values": dict(trial.params),
            "objectives": {o.name: (v if math.isfinite(v) else None) for o, v in zip(objectives, values)},
            "figures": attrs.get("figures", {}), "feasible": feasible, "run_id": attrs.get("run_id"),
            "error": attrs.get("error", "" if trial.state.name != "FAIL" else "its worker stopped mid-trial"),
            "worker": attrs.get("worker"), "bound_by": attrs.get("bound_by")}


def search_summary(study_name: str, trials: list, objectives: tuple[Objective, ...], constraints) -> dict:
    """All trials, best first; `pareto` marks the feasible trials no other feasible trial dominates."""
    rows = [trial_row(t, objectives) for t in trials]
    feasible = [r for r in rows if r["feasible"]]
    senses = {o.name: o.direction for o in objectives}
    front = {id(feasible[i]) for i in pareto_front([r["objectives"] for r in feasible], senses)}
    first = objectives[0]

    def key(r: dict):
        v = r["objectives"].get(first.name)
        return (not r["feasible"], v is None, -(v or 0.0) if first.direction == "max" else (v or 0.0))

    rows.sort(key=key)
    for r in rows:
        r["pareto"] = id(r) in front
    return {"study": study_name, "objectives": senses, "constraints": [str(c) for c in constraints],
            "trials": rows, "front": [r["trial"] for r in rows if r["pareto"]],
            "complete": sum(r["state"] == "complete" for r in rows), "feasible": len(feasible),
            "recommended": recommended(rows, constraints)}


def recommended(rows: list[dict], constraints) -> dict | None:
    """The best feasible trial (on the first objective) and what limits it: the budget it uses most of
    (the one a better design would break first) and the resource its run's busy time went to."""
    best = next((r for r in rows if r["feasible"]), None)
    if best is None:
        return None
    budget = limiting_budget(best["figures"], constraints)
    return {"trial": best["trial"], "values": best["values"], "objectives": best["objectives"],
            "run_id": best["run_id"], "bound_by": best.get("bound_by"),
            "budget": None if budget is None else dict(zip(("figure", "value", "bound", "used"), budget))}


BINDING = 0.95  # a design using this much of a budget is held by it: the next size up would break it


def limit_text(rec: dict) -> str:
    """What limits the recommended design: a budget it (nearly) exhausts, else the resource its run's busy
    time went to, with its tightest budget's use: 'the area budget (total_mm2 398.2 of 400: 99.6 % used);
    its run's busy time went mostly to memory bandwidth'."""
    b, parts = rec["budget"], []
    use = None if not b else (f"{BUDGETS[b['figure']]} budget ({b['figure']} {b['value']:,.4g} of "
                              f"{b['bound']:,.4g}: {100 * b['used']:.1f} % used)")
    if use and b["used"] >= BINDING:
        parts.append(f"the {use}")
    if rec.get("bound_by"):
        parts.append(f"its run's busy time went mostly to {rec['bound_by']}")
    if use and b["used"] < BINDING:
        parts.append(f"tightest budget: {use}")
    return "; ".join(parts) or "nothing measured"


def _fmt(value) -> str:
    if value is None:
        return "-"
    return format(value, ",.4g") if isinstance(value, float) else str(value)


def print_search(console: Console, summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    rows = summary["trials"]
    fields = list(dict.fromkeys(k for r in rows for k in r["values"]))
    goals = list(summary["objectives"])
    t = Table(title=f"search {summary['study']}: {summary['complete']} trials, {summary['feasible']} feasible "
                    f"(* = Pareto front over {', '.join(f'{k}:{v}' for k, v in summary['objectives'].items())})",
              title_justify="left")
    for col in ["", "trial", *fields, *goals, "feasible", "status"]:
        t.add_column(col, no_wrap=True)
    for r in rows:
        t.add_row("*" if r["pareto"] else "", str(r["trial"]), *(_fmt(r["values"].get(f)) for f in fields),
                  *(_fmt(r["objectives"].get(g)) for g in goals), "yes" if r["feasible"] else "no",
                  r["state"] if not r["error"] else f"{r['state']}: {r['error'][:60]}")
    wide = console if console.is_terminal else Console(width=200, file=console.file)
    wide.print(t)
    rec = summary.get("recommended")
    if rec is None:
        wide.print("no feasible design: loosen a --constraint or widen the --space")
        return
    design = ", ".join(f"{k}={_fmt(v)}" for k, v in rec["values"].items())
    goals = ", ".join(f"{k} {_fmt(v)}" for k, v in rec["objectives"].items())
    wide.print(f"recommended: trial {rec['trial']} ({design}): {goals}; run {rec['run_id']}")
    wide.print(f"limited by: {limit_text(rec)}")
