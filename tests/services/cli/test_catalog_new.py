"""`twin catalog new`: a renamed copy of an entry in a user catalogue, with a server for a new chip."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from services.cli import cli

TRACE = "synthetic:poisson?rate=4&n=12&input=64..256&output=8..32&seed=3"


def _cli(tmp_path: Path, *args: str, code: int = 0):
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'runs.db'}", *args])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def test_a_new_chip_gets_a_matching_server_and_replays(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = _cli(tmp_path, "catalog", "new", "chip", "my-lpu", "--from", "lpu-asic-3280").output
    chip = yaml.safe_load(Path("hw/chips/my-lpu.yaml").read_text())
    server = yaml.safe_load(Path("hw/servers/my-lpu-server.yaml").read_text())
    assert chip["name"] == "my-lpu" and chip["mac_trees"] == 32
    assert server["name"] == "my-lpu-server" and server["chip"] == "my-lpu" and server["chips"] == 8
    assert "my-lpu-server" in out and "lpu-8x-4nm" in out  # says which server it copied
    run = _cli(tmp_path, "--catalog", "hw", "replay", TRACE, "--server", "my-lpu-server", "--json", "--no-progress")
    assert json.loads(run.output)["summary"]["twin"]["chip"] == "my-lpu"


def test_the_folder_defaults_to_the_first_catalog_option(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    _cli(tmp_path, "--catalog", str(folder), "catalog", "new", "model", "my-model", "--from", "llama2-7b")
    assert yaml.safe_load((folder / "models" / "my-model.yaml").read_text())["name"] == "my-model"
    assert not (folder / "servers").exists()  # only a chip gets a server


def test_copy_from_a_user_entry_in_the_destination(tmp_path: Path) -> None:
    folder = str(tmp_path / "hw")
    _cli(tmp_path, "catalog", "new", "chip", "first", "--from", "h100-sxm", "--catalog", folder)
    (tmp_path / "hw" / "chips" / "first.yaml").write_text(
        (tmp_path / "hw" / "chips" / "first.yaml").read_text().replace("clock_ghz:", "clock_ghz: 1.5 #"))
    out = _cli(tmp_path, "catalog", "new", "chip", "second", "--from", "first", "--catalog", folder).output
    assert yaml.safe_load((tmp_path / "hw" / "chips" / "second.yaml").read_text())["clock_ghz"] == 1.5
    assert "second-server" in out
    assert yaml.safe_load((tmp_path / "hw" / "servers" / "second-server.yaml").read_text())["chip"] == "second"


def test_an_existing_file_is_refused_unless_force(tmp_path: Path) -> None:
    folder = str(tmp_path / "hw")
    _cli(tmp_path, "catalog", "new", "link", "my-link", "--from", "esl-asic", "--catalog", folder)
    before = (tmp_path / "hw" / "links" / "my-link.yaml").read_text()
    out = _cli(tmp_path, "catalog", "new", "link", "my-link", "--from", "nvlink4", "--catalog", folder, code=1).output
    assert out.count("\n") == 1 and "already exists" in out and "--force" in out
    assert (tmp_path / "hw" / "links" / "my-link.yaml").read_text() == before
    _cli(tmp_path, "catalog", "new", "link", "my-link", "--from", "nvlink4", "--catalog", folder, "--force")
    assert "nvlink4" in (tmp_path / "hw" / "links" / "my-link.yaml").read_text()


def test_bad_names_are_one_line(tmp_path: Path) -> None:
    folder = str(tmp_path / "hw")
    for args, words in [(("chip", "h100-sxm", "--from", "a100-80gb"), "package entry"),
                        (("chip", "../x", "--from", "a100-80gb"), "identifier"),
                        (("chip", "x", "--from", "no-such-chip"), "unknown chip")]:
        out = _cli(tmp_path, "catalog", "new", *args, "--catalog", folder, code=1).output
        assert out.count("\n") == 1 and words in out, out
    assert not (tmp_path / "hw").exists()
