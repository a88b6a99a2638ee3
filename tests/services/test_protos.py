"""The committed generated code matches the protos, and every proto field says its unit."""

from __future__ import annotations

import filecmp
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOS = sorted((ROOT / "protos" / "twin_api" / "v1").glob("*.proto"))
FIELD = re.compile(r"^\s*(optional |repeated )?[\w.<>, ]+ \w+ = \d+;")


def test_generated_code_has_not_drifted(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the test extra) regenerates the code")
    subprocess.run(["bash", str(ROOT / "protos" / "generate.sh"), str(tmp_path)], check=True)
    fresh, committed = tmp_path / "twin_api" / "v1", ROOT / "twin_api" / "v1"
    names = sorted(p.name for p in fresh.iterdir() if p.is_file())
    assert names == sorted(p.name for p in committed.iterdir() if p.is_file() and p.suffix != ".pyc")
    match, mismatch, errors = filecmp.cmpfiles(fresh, committed, names, shallow=False)
    assert not mismatch and not errors, f"regenerate with protos/generate.sh: {mismatch + errors}"
    assert filecmp.cmp(tmp_path / "twin_api" / "__init__.py", ROOT / "twin_api" / "__init__.py", shallow=False)


@pytest.mark.parametrize("proto", PROTOS, ids=lambda p: p.name)
def test_every_field_is_commented_with_its_unit(proto: Path) -> None:
    bare = [line.strip() for line in proto.read_text().splitlines() if FIELD.match(line) and "//" not in line]
    assert not bare, f"fields without a comment in {proto.name}: {bare}"


def test_generated_imports_are_package_relative() -> None:
    text = (ROOT / "twin_api" / "v1" / "cluster_pb2_grpc.py").read_text()
    assert "from twin_api.v1 import cluster_pb2" in text
