"""The store writer's SQLite store without SQLAlchemy (services.store.lite) writes what `repo.Store`
writes: the same schema for a new file, the same rows read back through `repo.Store`, the same refusals;
and it leaves to `repo.Store` every database it cannot keep exactly."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from services.store import lite, open_store
from twin.errors import InvalidSpec, NotRunning, UnknownName
from twin.metrics import RequestRecord, SeriesSample

RECORDS = [
    RequestRecord(0, 0, "done", 0.1, 512, 128, 0.1 + 0.2, 1.0 / 3, 0),
    RequestRecord(2**40, 3, "rejected", 1e-300, 1, 0, None, None, 0, "exceeds kv capacity"),
    RequestRecord(7, 1, "preempted", 1e300, 4096, 2, 2.5, None, 3, "préempté ✓"),
]
SERIES = [SeriesSample(0.5, "replica0/batch", 3.0), SeriesSample(1.0, "replica0/kv", math.nan),
          SeriesSample(1.5, "replica1/kv", math.inf)]
SPEC = {"server": "lpu-8x-4nm", "tp": 8, "ratio": 0.1, "nested": {"x": [1, 2.5, None]}}
SUMMARY = {"requests": {"total": 3}, "ttft_p99_s": math.nan, "name": "ü"}
COMPONENTS = {"replica0": {"steps": 12.0, "busy_s": 0.25}, "replica0/chip1/hbm": {"util": 0.5}}


def schema(path) -> list[tuple]:
    with sqlite3.connect(path) as c:
        return c.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()


def write(store) -> str:
    run_id = store.create_run(kind="replay", trace="azure", spec=SPEC, policy={"kv": "fp16"})
    store.append(run_id, RECORDS[:2], SERIES[:1])
    store.append(run_id, RECORDS[2:], SERIES[1:])
    store.finish(run_id, "complete", SUMMARY, COMPONENTS)
    return run_id


def read(url: str, run_id: str) -> tuple:
    with open_store(url) as store:
        run = store.get_run(run_id)
        kept = dataclasses.replace(run, id="", created_at=None, finished_at=None)
        return kept, store.request_records(run_id), store.series(run_id), store.components(run_id), \
            store.driver(run_id)[0]


def test_a_new_file_gets_the_schema_sqlalchemy_creates(tmp_path):
    with lite.open_lite(f"sqlite:///{tmp_path / 'lite.db'}", "me") as store:
        assert store.label == f"{tmp_path / 'lite.db'} (SQLite)"
    open_store(f"sqlite:///{tmp_path / 'full.db'}").close()
    assert schema(tmp_path / "lite.db") == schema(tmp_path / "full.db")
    with sqlite3.connect(tmp_path / "lite.db") as c:
        assert c.execute("SELECT version_num FROM alembic_version").fetchall() == [("0002",)]


def test_its_rows_read_back_as_the_full_stores_do(tmp_path):
    full, light = f"sqlite:///{tmp_path / 'full.db'}", f"sqlite:///{tmp_path / 'lite.db'}"
    with open_store(full, owner="me") as store:
        full_id = write(store)
    with lite.open_lite(light, "me") as store:
        lite_id = write(store)
    full_read, lite_read = read(full, full_id), read(light, lite_id)
    assert lite_read == full_read
    run, records, series, components, owner = lite_read
    assert run.status == "complete" and run.requests_recorded == 3 and run.series_recorded == 3
    assert run.spec == SPEC and run.summary == {**SUMMARY, "ttft_p99_s": None}
    assert records == RECORDS and components == COMPONENTS and owner == "me"
    assert [s.value for s in series][0] == 3.0 and math.isnan(series[1].value) and series[2].value == math.inf


def test_times_are_stored_as_the_full_store_stores_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'lite.db'}"
    before = datetime.now(UTC)
    with lite.open_lite(url, "me") as store:
        run_id = write(store)
    with open_store(url) as store:
        run = store.get_run(run_id)
        _, lease = store.driver(run_id)
    assert before <= run.created_at <= run.finished_at <= datetime.now(UTC)
    assert timedelta(seconds=290) < lease.replace(tzinfo=UTC) - before < timedelta(seconds=310)  # the default 300 s lease


def test_it_refuses_what_the_full_store_refuses(tmp_path):
    with lite.open_lite(f"sqlite:///{tmp_path / 'lite.db'}", "me") as store:
        run_id = write(store)
        with pytest.raises(NotRunning, match="is complete, not running"):
            store.append(run_id, RECORDS, [])
        with pytest.raises(UnknownName):
            store.finish("0" * 32, "failed", None)
        other = store.create_run(kind="replay", trace="t", spec={}, policy={})
        with pytest.raises(InvalidSpec, match="a complete run needs a summary"):
            store.finish(other, "complete", None)
        with pytest.raises(InvalidSpec, match="kind"):
            store.create_run(kind="nonsense", trace="t", spec={}, policy={})


def test_marking_interrupted_summarises_the_stored_records(tmp_path):
    url = f"sqlite:///{tmp_path / 'lite.db'}"
    with lite.open_lite(url, "me") as store:
        run_id = store.create_run(kind="replay", trace="t", spec={}, policy={})
        store.append(run_id, RECORDS, SERIES)
        assert store.mark_interrupted(run_id, "stopped")
    with open_store(url) as store:
        run = store.get_run(run_id)
    assert run.status == "interrupted" and run.error == "stopped"
    assert run.summary["requests"]["total"] == 3


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "postgresql://u@h/db", "sqlite:///a.db?mode=ro"])
def test_other_databases_go_to_the_full_store(url):
    assert lite.open_lite(url, "me") is None


def test_an_older_schema_or_a_run_to_take_over_goes_to_the_full_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    open_store(url).close()
    with sqlite3.connect(tmp_path / "old.db") as c:
        c.execute("UPDATE alembic_version SET version_num = '0001'")
    assert lite.open_lite(url, "me") is None  # Alembic migrates it

    url = f"sqlite:///{tmp_path / 'expired.db'}"
    with open_store(url, owner="gone") as store:
        store.create_run(kind="replay", trace="t", spec={}, policy={})
    with sqlite3.connect(tmp_path / "expired.db") as c:
        c.execute("UPDATE runs SET lease_expires_at = '2000-01-01 00:00:00.000000'")
    assert lite.open_lite(url, "me") is None  # repo.open_store takes it over, with a summary
