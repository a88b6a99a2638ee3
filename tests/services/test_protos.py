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


# A number's comment names its unit in parentheses ("(simulated seconds)", "(tokens)", "(count)")
# or says "(..., no unit)"; other fields say what kind of value they hold ("(name, no unit)", "(text)").
UNIT_WORDS = {"seconds", "bytes", "gb", "kb", "tokens", "count", "fraction", "requests", "second", "replicas",
              "factor", "utc", "no unit", "units", "unit of", "watts", "joules", "mm2", "hz", "ghz"}
KIND_WORDS = {"name", "names", "id", "ids", "text", "flag", "object", "see", "index", "number", "time"}
NUMERIC = re.compile(r"^\s*(optional |repeated )?(u?int(32|64)|s?fixed(32|64)|sint(32|64)|double|float) ")
MESSAGE = re.compile(r"^\s*(optional |repeated )?[A-Z]")  # a message field: its own fields carry units


def unit_words(comment: str) -> set[str]:
    """Unit or kind words inside the comment's parentheses."""
    text = comment[comment.find("("):comment.rfind(")") + 1].lower() if "(" in comment else ""
    return {word for word in UNIT_WORDS | KIND_WORDS if re.search(rf"\b{re.escape(word)}\b", text)}


def says_its_unit(line: str) -> bool:
    if "//" not in line:
        return False
    if MESSAGE.match(line):
        return True
    words = unit_words(line.split("//", 1)[1])
    return bool(words & UNIT_WORDS) if NUMERIC.match(line) else bool(words)


@pytest.mark.parametrize("proto", PROTOS, ids=lambda p: p.name)
def test_every_field_is_commented_with_its_unit(proto: Path) -> None:
    fields = [line.strip() for line in proto.read_text().splitlines() if FIELD.match(line)]
    missing = [line for line in fields if not says_its_unit(line)]
    assert not missing, f"fields whose comment names no unit in {proto.name}: {missing}"


@pytest.mark.parametrize("line, ok", [("double arrival_s = 2;  // arrival time (simulated seconds)", True),
                                      ("uint32 tp = 4;  // chips per replica (count); unset: all", True),
                                      ("double arrival_s = 2;  // arrival time", False),
                                      ("double arrival_s = 2;  // arrival time (name)", False),
                                      ("uint32 n = 1;", False),
                                      ("string model = 1;  // the model (name, no unit)", True),
                                      ("string model = 1;  // the model", False),
                                      ("TraceOptions options = 2;  // how to read it", True)])
def test_the_unit_check_itself(line: str, ok: bool) -> None:
    assert says_its_unit(line) is ok


def test_generated_imports_are_package_relative() -> None:
    text = (ROOT / "twin_api" / "v1" / "cluster_pb2_grpc.py").read_text()
    assert "from twin_api.v1 import cluster_pb2" in text
