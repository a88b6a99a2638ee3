"""The modules `pip install .` compiles with mypyc type-check as mypyc will compile them: a type error there
fails the wheel build, which is the README's install command. Checked on the sources, so the editable
install (the README's test command) catches it before a compiled build does."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def compiled_modules() -> list[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    (node,) = [n for n in ast.walk(tree) if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "COMPILED"]
    return [elt.value for elt in node.value.elts]


def test_the_compiled_modules_type_check() -> None:
    pytest.importorskip("mypy", reason="mypy (the test extra, pinned as the build uses it) checks the types")
    modules = compiled_modules()
    assert "twin/serving/cost.py" in modules
    out = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports", "--follow-imports=silent",
                          "--no-incremental", "--cache-dir", "/dev/null", *modules],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]


def test_the_pin_is_the_build_backends() -> None:
    backend = (ROOT / "build_support" / "backend.py").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    pin = backend.split('MYPY = "', 1)[1].split('"', 1)[0]
    assert f'"{pin}"' in pyproject, f"the test extra must pin {pin}, as build_support/backend.py does"
