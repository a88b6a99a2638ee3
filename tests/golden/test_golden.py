"""Seeded golden summaries of small trace slices, diffed against checked-in files.

They catch unintended behaviour changes anywhere in the pipeline. When a change is
intended, regenerate with `python tests/golden/regenerate.py` and explain the diff in
the commit. Why the numbers are right is tested elsewhere (calibration, engine, invariants).
"""

import json
import math
from pathlib import Path

import pytest

from regenerate import CASES, golden_summary  # this folder is on sys.path (no __init__)

HERE = Path(__file__).resolve().parent


def close(a, b, path=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            close(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_summary(case):
    expected = json.loads((HERE / f"{case}.json").read_text())
    close(golden_summary(case), expected)
