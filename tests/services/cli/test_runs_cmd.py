"""`twin runs ...` on a local database: prefix ids, list/show/compare/delete, exports that read back
equal to the stored records, and the one error shape."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from services.cli import cli
from services.export import record_of
from services.store import open_store

REPLAY = ["replay", "synthetic:gamma?rate=4&cv=2&n=120&input=64..900&output=2..200&seed=5",
          "--model", "opt-1.3b", "--tp", "1", "--json"]


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'runs.db'}"


def twin(db, *args, code=0):
    result = CliRunner().invoke(cli, ["--db", db, *args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def run_id(db):
    return json.loads(twin(db, *REPLAY))["run_id"]


def test_list_json_shows_full_ids_and_show_takes_a_prefix(db, run_id):
    listed = json.loads(twin(db, "runs", "list", "--json"))
    assert [r["run_id"] for r in listed] == [run_id] and len(run_id) == 32
    assert run_id in twin(db, "runs", "list")  # the human table does not cut ids short
    shown = json.loads(twin(db, "runs", "show", run_id[:6], "--json"))
    assert shown["run_id"] == run_id and shown["summary"]["requests"]["done"] == 120
    assert "offered load" in twin(db, "runs", "show", run_id[:6])


def test_an_ambiguous_or_unknown_prefix_is_a_one_line_error(db):
    with open_store(db) as store:  # 17 runs: two must share a first hex digit
        ids = [store.create_run(kind="replay", trace="t", spec={}, policy={}) for _ in range(17)]
    digit, _ = Counter(i[0] for i in ids).most_common(1)[0]
    out = twin(db, "runs", "show", digit, code=1)
    assert out.startswith("Error: run_id:") and "several runs" in out and "Traceback" not in out
    assert twin(db, "runs", "show", "ffffffffffffffffz", code=1).startswith("Error: unknown run")
    assert twin(db, "runs", "show", "x" * 5000, code=1).count("x") < 100  # the input is not echoed whole


def test_exports_read_back_equal_to_the_stored_records(db, run_id, tmp_path):
    with open_store(db) as store:
        stored = store.request_records(run_id, limit=10_000)
    assert len(stored) == 120
    twin(db, "runs", "export", run_id[:8], "-o", str(tmp_path / "r.csv"))
    with (tmp_path / "r.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [record_of(r) for r in rows] == stored
    assert rows[0].keys() >= {"prompt_len", "output_tokens", "ttft", "tpot", "latency", "success", "start_time"}
    twin(db, "runs", "export", run_id, "--format", "parquet", "-o", str(tmp_path / "r.pq"))
    table = pq.read_table(tmp_path / "r.pq")
    assert [record_of(r) for r in table.to_pylist()] == stored
    twin(db, "runs", "export", run_id, "-o", str(tmp_path / "r.jsonl"))
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert [record_of(json.loads(line)) for line in lines] == stored
    # Derived columns are the record's own figures, not recomputed differently.
    first = table.to_pylist()[0]
    assert first["ttft"] == pytest.approx(stored[0].ttft_s) and first["latency"] == pytest.approx(stored[0].e2e_s)


def test_compare_and_delete(db, run_id):
    other = json.loads(twin(db, *REPLAY[:-1], "--replicas", "1", "--max-batch", "2", "--json"))["run_id"]
    cmp = json.loads(twin(db, "runs", "compare", run_id[:7], other[:7], "--json"))
    assert cmp["run_ids"] == [run_id, other]
    rows = {r["metric"]: r["values"] for r in cmp["rows"]}
    assert rows["requests.done"] == [120, 120]
    assert rows["ttft_s.p99"][1] > rows["ttft_s.p99"][0]  # one replica of batch 2 queues more
    assert "Runs compared" in twin(db, "runs", "compare", run_id, other)
    assert f"deleted run {other}" in twin(db, "runs", "delete", other[:10])
    assert twin(db, "runs", "show", other, code=1).startswith("Error: unknown run")
    with open_store(db) as store:
        assert len(store.request_records(run_id)) > 0  # the other run's records are untouched


def test_cancel_needs_a_controller(db, run_id):
    out = twin(db, "runs", "cancel", run_id[:5], code=1)
    assert "is complete" in out and "--controller" in out
