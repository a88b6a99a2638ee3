"""The build backend: setuptools', with mypy (for its mypyc compiler) asked for only when building a wheel.

`pip install .` builds a wheel: setup.py then compiles the simulation core's hot modules with mypyc.
Editable installs (`pip install -e .`, how the code is developed) and source distributions stay pure
Python: a compiled module beside its source would be imported instead of the .py and hide every edit
until the next build. TWIN_COMPILE=0 makes a wheel pure Python too.
"""

from __future__ import annotations

import os

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F401,F403 (every other hook, as setuptools has it)

MYPY = "mypy==2.4.1"  # pinned: mypyc's output changes between releases


def _pure(hook):
    """`hook` with compilation off (setup.py reads TWIN_COMPILE; each hook runs in a process of its own)."""
    def run(*args, **kwargs):
        os.environ["TWIN_COMPILE"] = "0"
        return hook(*args, **kwargs)
    return run


def get_requires_for_build_wheel(config_settings=None):
    compile_core = os.environ.get("TWIN_COMPILE", "1") != "0"
    return build_meta.get_requires_for_build_wheel(config_settings) + ([MYPY] if compile_core else [])


# Metadata does not depend on what is compiled: asking it should not run mypy.
prepare_metadata_for_build_wheel = _pure(build_meta.prepare_metadata_for_build_wheel)
get_requires_for_build_editable = _pure(build_meta.get_requires_for_build_editable)
prepare_metadata_for_build_editable = _pure(build_meta.prepare_metadata_for_build_editable)
build_editable = _pure(build_meta.build_editable)
get_requires_for_build_sdist = _pure(build_meta.get_requires_for_build_sdist)
build_sdist = _pure(build_meta.build_sdist)
