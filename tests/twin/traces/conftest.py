"""Fixtures for trace tests: the shared public traces (skipped when absent) and file writers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _shared_traces() -> Path | None:
    # TWIN_SHARED_DIR may name the shared dir (holding traces/) or traces/ itself.
    env = os.environ.get("TWIN_SHARED_DIR")
    if env:
        root = Path(env)
        return root / "traces" if (root / "traces").is_dir() else root
    sibling = Path(__file__).resolve().parents[3].parent / "shared" / "traces"
    return sibling if sibling.is_dir() else None


@pytest.fixture(scope="session")
def shared_traces() -> Path:
    """Directory of the shared public traces (see shared/traces/README.md)."""
    path = _shared_traces()
    if path is None or not path.is_dir():
        pytest.skip("shared traces not found: set TWIN_SHARED_DIR or place shared/ next to the repo")
    return path


@pytest.fixture
def write(tmp_path):
    """write(name, text) -> Path of a small fixture file in tmp_path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture(scope="session")
def printed():
    """printed(value, text): whether value prints as text with text's decimals (README precision)."""

    def _printed(value: float, text: str) -> bool:
        decimals = len(text.partition(".")[2])
        return f"{value:.{decimals}f}" == text

    return _printed
