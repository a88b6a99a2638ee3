"""`twin search`: Optuna over sweep axes; every trial a stored child run of a stored search run, infeasible
trials (constraints missed, points that do not fit) recorded, several objectives a Pareto front, --resume."""

from __future__ import annotations

import json

import optuna
from click.testing import CliRunner

from services.cli import cli
from services.search_worker import study_storage
from services.store import open_store
from twin.explore.pareto import dominates

BASE = ["azure-conv-2023", "--limit", "60", "--model", "llama2-70b"]


def search(url: str, *args: str):
    result = CliRunner().invoke(cli, ["--db", url, "search", *BASE, *args, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result, (json.loads(result.stdout) if result.exit_code == 0 else None)


def test_trials_are_stored_child_runs_and_infeasible_ones_are_kept(sqlite_url) -> None:
    # tp=1 does not fit llama2-70b; two servers break the area budget: both infeasible, both recorded
    result, summary = search(sqlite_url, "--space", "tp=1,2,4,8", "--space", "servers=1,2", "--objective",
                             "output_tokens_per_s:max", "--constraint", "total_mm2<=600", "--trials", "10",
                             "--sampler-seed", "3", "--study", "s1")
    assert result.exit_code == 0, result.output
    rows = summary["trials"]
    assert len(rows) == 10 and all(r["state"] == "complete" for r in rows)
    with open_store(sqlite_url) as store:
        (parent,) = [r for r in store.list_runs(limit=50) if r.kind == "search"]
        assert store.get_run(parent.id).status == "complete"
        assert store.get_run(parent.id).summary["trials"] == rows
        for r in rows:  # each trial a child run: its own replay, or the reason it could not run
            child = store.get_run(r["run_id"])
            assert child.kind == "replay"
            assert child.status == ("failed" if r["values"]["tp"] == 1 else "complete")
    for r in rows:
        over_budget = r["figures"].get("total_mm2", 0) > 600
        assert r["feasible"] == (r["values"]["tp"] != 1 and not over_budget)
    assert any(not r["feasible"] for r in rows) and any(r["feasible"] for r in rows)
    best = max((r for r in rows if r["feasible"]), key=lambda r: r["objectives"]["output_tokens_per_s"])
    assert rows[0]["trial"] == best["trial"]  # best first; the front: it and its repeats (TPE may re-draw a point)
    assert {rows_by(rows)[t]["objectives"]["output_tokens_per_s"] for t in summary["front"]} == \
        {best["objectives"]["output_tokens_per_s"]}


def rows_by(rows: list[dict]) -> dict[int, dict]:
    return {r["trial"]: r for r in rows}


def test_several_objectives_give_a_pareto_front_of_feasible_trials(sqlite_url) -> None:
    result, summary = search(sqlite_url, "--space", "tp=2,4,8", "--space", "max_batch=4..64:log", "--objective",
                             "output_tokens_per_s:max", "--objective", "j_per_output_token:min", "--trials", "8",
                             "--sampler-seed", "1")
    assert result.exit_code == 0, result.output
    senses = {"output_tokens_per_s": "max", "j_per_output_token": "min"}
    rows = {r["trial"]: r for r in summary["trials"]}
    front = [rows[t] for t in summary["front"]]
    assert front and all(r["feasible"] for r in front)
    for r in rows.values():  # front members: dominated by no one; the others: dominated by some member
        beaten = any(dominates(f["objectives"], r["objectives"], senses) for f in front)
        assert beaten != (r["trial"] in summary["front"]) or not r["feasible"]
    assert all(4 <= r["values"]["max_batch"] <= 64 for r in rows.values())
    storage = study_storage(sqlite_url)
    study = optuna.load_study(study_name=summary["study"], storage=storage)
    assert len(study.directions) == 2  # a multi-objective study (NSGA-II)


def test_resume_continues_the_study_with_its_own_space(sqlite_url) -> None:
    args = ["--space", "tp=2,4,8", "--objective", "output_tokens_per_s:max", "--study", "again"]
    first, summary = search(sqlite_url, *args, "--trials", "3")
    assert first.exit_code == 0 and len(summary["trials"]) == 3
    second, summary = search(sqlite_url, "--study", "again", "--resume", "--trials", "5")
    assert second.exit_code == 0, second.output
    assert sorted(r["trial"] for r in summary["trials"]) == [0, 1, 2, 3, 4]
    other, _ = search(sqlite_url, "--space", "tp=2,4", "--objective", "output_tokens_per_s:max", "--study",
                      "again", "--trials", "6")
    assert other.exit_code == 1 and "searches another space" in other.output
    with open_store(sqlite_url) as store:
        assert sum(r.kind == "search" for r in store.list_runs(limit=50)) == 2  # one search run per invocation
