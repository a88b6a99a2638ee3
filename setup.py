"""Wheel builds compile the simulation core's hot modules with mypyc (see build_support/backend.py).

A replay spends most of its time in these modules; compiled, it executes about 1.8x fewer
instructions and gives the same results to the last bit (tests/twin/test_compiled.py holds the two
builds equal). The replica (lifecycle.py, engine.py) is a native class; the features it holds
(twin.serving.features: prefix caching, speculation, disaggregation, policy switching), the hardware
models of layer fidelity and everything outside the core stay Python, so a test or a user can give a
replica a feature of their own (Simulation's `observers`). Without a C compiler or Python's headers, or with
TWIN_COMPILE=0, the core installs as Python.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import setup

COMPILED = [
    "twin/arrivals.py", "twin/metrics.py", "twin/sketch.py", "twin/summary.py",
    "twin/serving/batch.py", "twin/serving/closed_form.py", "twin/serving/cost.py", "twin/serving/kv_cache.py",
    "twin/serving/queues.py", "twin/serving/request.py", "twin/serving/scheduler.py", "twin/serving/shape_cost.py",
    "twin/serving/stats.py", "twin/serving/lifecycle.py", "twin/serving/engine.py",
]


def ext_modules() -> list:
    if os.environ.get("TWIN_COMPILE", "1") == "0":
        return []
    missing = missing_toolchain()
    if missing is None:
        try:
            from mypyc.build import mypycify
        except ImportError:
            missing = "mypy (its mypyc compiler) is not installed in the build environment"
    if missing is not None:
        print(f"lpu-twin: {missing}: the core is installed as Python (a replay about 1.8x slower)", file=sys.stderr)
        return []
    return mypycify(["--ignore-missing-imports", "--follow-imports=silent", *COMPILED], opt_level="3")


def missing_toolchain() -> str | None:
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "no Python headers (Python.h; Debian: python3-dev)"
    return None


setup(ext_modules=ext_modules())
