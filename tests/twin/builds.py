"""Which core the tests import: compiled by mypyc (`pip install .`, see setup.py) or the Python sources."""

from __future__ import annotations

import pytest

from twin.serving import batch, engine, kv_cache

COMPILED = all(m.__file__.endswith((".so", ".pyd")) for m in (batch, engine, kv_cache))


def python_only(why: str):
    """Skip on the compiled core, saying `why`; the README's test command (the Python core) runs it, and
    test_compiled holds the two cores' results equal."""
    return pytest.mark.skipif(COMPILED, reason=f"compiled core: {why}")
