"""Opening a store migrates it: the schema comes from the Alembic scripts and fits the models."""

from __future__ import annotations

import threading
import tomllib
from pathlib import Path, PurePosixPath

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from services.store import StoreError, open_store
from services.store.db import MIGRATIONS_DIR, URL_ENV, alembic_config, create_store_engine, head_revision
from services.store.models import Base

REPO = Path(__file__).resolve().parents[3]
TABLES = {"runs", "request_records", "series", "component_util", "alembic_version"}


def test_open_creates_the_schema_at_the_newest_revision(db_url):
    with open_store(db_url) as store:
        assert TABLES <= set(inspect(store.engine).get_table_names())
        with store.engine.connect() as connection:
            version = connection.scalar(text("SELECT version_num FROM alembic_version"))
    assert version == ScriptDirectory.from_config(alembic_config()).get_current_head() == head_revision() == "0002"


def test_migrated_schema_matches_the_models(store):
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_reopening_keeps_runs(db_url):
    with open_store(db_url) as store:
        run_id = store.create_run(kind="replay", trace="t", spec={}, policy={})
    with open_store(db_url) as store:
        assert store.get_run(run_id).status == "running"


def test_downgrade_to_base_and_upgrade_again(store):
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        assert "runs" not in inspect(connection).get_table_names()
        command.upgrade(config, "head")
    assert store.list_runs() == []


def test_schema_newer_than_the_code_is_a_store_error(db_url):
    with open_store(db_url) as store, store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="cannot migrate database"):
        open_store(db_url)


def test_unreachable_sqlite_file_names_the_url(tmp_path):
    url = f"sqlite:///{tmp_path}/no/such/dir/twin.db"
    with pytest.raises(StoreError, match="cannot reach database") as caught:
        open_store(url)
    assert url in str(caught.value)


def test_unreachable_postgres_names_the_url_without_its_password():
    url = "postgresql+psycopg://twin:s3cret@127.0.0.1:1/twin?connect_timeout=2"
    with pytest.raises(StoreError, match="cannot reach database") as caught:
        open_store(url)
    assert "twin:***@127.0.0.1:1/twin" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_unusable_url_is_a_store_error():
    with pytest.raises(StoreError, match="nosuchdb://x"):
        open_store("nosuchdb://x")


def test_default_url_is_twin_db_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with open_store() as store:
        assert store.engine.url.database == "twin.db"
    assert (tmp_path / "twin.db").is_file()


def test_url_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(URL_ENV, f"sqlite:///{tmp_path / 'from_env.db'}")
    with open_store():
        pass
    assert (tmp_path / "from_env.db").is_file()


def test_in_memory_sqlite_is_one_database_for_all_threads():
    with open_store("sqlite://") as store:
        created: list[str] = []
        worker = threading.Thread(
            target=lambda: created.append(
                store.create_run(kind="sweep", trace="t", spec={}, policy={})
            )
        )
        worker.start()
        worker.join()
        assert [run.id for run in store.list_runs()] == created


def test_bare_postgresql_url_uses_psycopg_3():
    engine = create_store_engine("postgresql://u:p@localhost/db")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_migration_scripts_ship_as_package_data():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["services"]
    sources = REPO / "services"
    scripts = [p.relative_to(sources) for p in (sources / "store" / "migrations").rglob("*.py")]
    assert len(scripts) >= 2
    for script in scripts:
        assert any(PurePosixPath(script.as_posix()).match(g) for g in globs), script
    installed = MIGRATIONS_DIR.parents[1]  # the services package imported: the repository's, or an install's
    assert all((installed / script).is_file() for script in scripts), f"migrations missing from {installed}"


def _schema(engine) -> dict:
    insp = inspect(engine)
    out = {}
    for table in insp.get_table_names():
        out[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(table)),
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]),
                           (f.get("options") or {}).get("ondelete")) for f in insp.get_foreign_keys(table)),
        }
    with engine.connect() as connection:
        out["version"] = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return out


def test_a_new_sqlite_file_built_from_the_models_equals_one_built_by_the_migrations(tmp_path):
    """A new SQLite store skips Alembic (faster first start); its schema and stamp must be exactly what
    running every migration gives, compared column by column, index by index."""
    from services.store import db

    fast_url, slow_url = f"sqlite:///{tmp_path}/fast.db", f"sqlite:///{tmp_path}/slow.db"
    with open_store(fast_url) as store:
        fast = _schema(store.engine)
    engine = create_store_engine(slow_url)
    try:
        db._upgrade(engine, slow_url)  # the Alembic path a new database took before
        slow = _schema(engine)
    finally:
        engine.dispose()
    assert fast == slow
    assert fast["version"] == [ScriptDirectory.from_config(alembic_config()).get_current_head()]
    assert TABLES <= set(fast)


def test_a_non_empty_sqlite_file_without_a_stamp_goes_through_the_migrations(tmp_path):
    """Only an empty file is built from the models: one holding other tables is Alembic's to judge."""
    url = f"sqlite:///{tmp_path}/other.db"
    engine = create_store_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE runs (id INTEGER PRIMARY KEY)"))  # clashes with the initial migration
    engine.dispose()
    with pytest.raises(StoreError, match="table runs already exists"):  # the initial migration ran, and said why
        open_store(url)
