"""`twin report -o` and `twin runs export -o`: never over an existing file without --force, never
through a symlink, never half-written, '-' is standard output, and a suffix names a known format."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from services import export as export_module
from services.cli import cli

REPLAY = ["replay", "synthetic:poisson?rate=4&n=20&input=64..128&output=2..20&seed=5", "--model", "opt-1.3b",
          "--tp", "1", "--json", "--no-progress"]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture
def run_id(db: str) -> str:
    return json.loads(twin(db, *REPLAY).stdout)["run_id"]


def twin(db: str, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, ["--db", db, *args])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


@pytest.mark.parametrize("command", [["report"], ["runs", "export"]])
def test_an_existing_file_is_kept_without_force_and_replaced_with_it(db, run_id, tmp_path, command) -> None:
    out = tmp_path / ("out.html" if command == ["report"] else "out.csv")
    out.write_text("precious")
    refused = twin(db, *command, run_id, "-o", str(out), code=1)
    assert "already exists; pass --force to replace it" in refused.output and out.read_text() == "precious"
    twin(db, *command, run_id, "-o", str(out), "--force")
    assert out.read_text() != "precious" and not out.is_symlink()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []  # no temporary file left


@pytest.mark.parametrize("command", [["report"], ["runs", "export"]])
def test_a_symlink_is_replaced_not_written_through(db, run_id, tmp_path, command) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    link = tmp_path / ("link.html" if command == ["report"] else "link.csv")
    link.symlink_to(victim)
    assert "already exists" in twin(db, *command, run_id, "-o", str(link), code=1).output
    twin(db, *command, run_id, "-o", str(link), "--force")
    assert victim.read_text() == "untouched" and not link.is_symlink() and link.stat().st_size > 100


@pytest.mark.parametrize("command, name", [(["report"], "x.html"), (["runs", "export"], "x.csv")])
def test_a_missing_folder_is_a_one_line_error(db, run_id, tmp_path, command, name) -> None:
    out = twin(db, *command, run_id, "-o", str(tmp_path / "no" / "such" / name), code=1).output
    assert out.startswith("Error: ") and "does not exist" in out and out.count("\n") == 1


def test_dash_is_standard_output_and_makes_no_file(db, run_id, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    exported = twin(db, "runs", "export", run_id, "-o", "-")
    assert exported.stdout.splitlines()[0].startswith("request_id,") and len(exported.stdout.splitlines()) == 21
    reported = twin(db, "report", run_id, "-o", "-")
    assert reported.stdout.startswith("<!DOCTYPE html>")
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("command, name, fragment", [
    (["runs", "export"], "r.txt", "cannot tell the format from the suffix: name it .csv, .parquet, .jsonl"),
    (["report"], "r.pdf", "a report is HTML"),
])
def test_an_unknown_suffix_is_an_error(db, run_id, tmp_path, command, name, fragment) -> None:
    assert fragment in twin(db, *command, run_id, "-o", str(tmp_path / name), code=1).output
    assert not (tmp_path / name).exists()


def test_a_full_device_keeps_the_old_file_and_leaves_no_partial_one(db, run_id, tmp_path, monkeypatch) -> None:
    out = tmp_path / "r.csv"
    out.write_text("old")

    def full(pages, path):
        path.write_text("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(export_module, "_csv", full)
    result = twin(db, "runs", "export", run_id, "-o", str(out), "--force", code=1)
    assert "cannot be written (No space left on device)" in result.output
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "runs.db"]
