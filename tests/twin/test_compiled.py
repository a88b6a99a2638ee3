"""The compiled core (mypyc, as `pip install .` builds it) gives the Python core's results to the last bit.

On a compiled install (.ci/run tests one, with TWIN_EXPECT_COMPILED=1) the twin's hot modules must
be the compiled ones, and replays on every serving path (tests/twin/compiled_cases.py) must give
the same summaries, float for float, as a Python interpreter importing the repository's sources.
On the editable Python install (the README's test command) there is nothing to compare: skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import compiled_cases
from builds import COMPILED
from twin.serving import batch

REPO = Path(__file__).resolve().parents[2]


def test_a_compiled_install_runs_the_compiled_core():
    if os.environ.get("TWIN_EXPECT_COMPILED") != "1":
        pytest.skip("not asked to check a compiled install (TWIN_EXPECT_COMPILED=1)")
    assert COMPILED, f"the core imported from {batch.__file__}, not a compiled module"


@pytest.mark.skipif(not COMPILED, reason="the Python core is installed: no compiled one to compare")
def test_compiled_and_python_cores_give_identical_summaries():
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the sources first: this interpreter runs the .py files
    out = subprocess.run([sys.executable, str(Path(compiled_cases.__file__))], env=env, check=True,
                         capture_output=True, text=True, timeout=600)
    ran = json.loads(out.stdout)
    assert ran["core"].endswith(".py"), ran["core"]  # the other side really ran the sources
    python = ran["summaries"]
    compiled = compiled_cases.summaries()
    assert sorted(compiled) == sorted(python)
    for name in compiled:
        assert compiled[name] == python[name], name
