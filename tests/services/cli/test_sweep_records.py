"""A sweep stores each point's summary and series; its request records only with --store-records."""

from __future__ import annotations

import json

from click.testing import CliRunner

from services.cli import cli
from services.store import open_store


def sweep(db: str, *extra: str) -> list[dict]:
    args = ["--db", db, "sweep", "azure-conv-2023", "--limit", "30", "--model", "opt-1.3b",
            "--set", "max_batch=8,16", "--jobs", "1", "--json", *extra]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{"):])["points"]


def stored(db: str, points: list[dict]) -> list:
    with open_store(db) as store:
        return [(store.get_run(p["run_id"]), store.series(p["run_id"]), store.request_records(p["run_id"], limit=100))
                for p in points]


def test_by_default_a_point_keeps_its_summary_and_series_not_its_records(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    for run, series, records in stored(db, sweep(db)):
        assert run.status == "complete" and run.summary["requests"]["total"] == 30
        assert series and run.series_recorded == len(series)
        assert records == [] and run.requests_recorded == 0


def test_store_records_keeps_every_request_of_every_point(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    rows = stored(db, sweep(db, "--store-records"))
    for run, series, records in rows:
        assert run.requests_recorded == len(records) == 30
        assert sorted(r.request_id for r in records) == list(range(30))
        assert series
    # the same summaries either way: storing records changes what is kept, not what is computed
    plain = stored(f"sqlite:///{tmp_path / 'plain.db'}", sweep(f"sqlite:///{tmp_path / 'plain.db'}"))
    assert [r.summary for r, _, _ in rows] == [r.summary for r, _, _ in plain]
