"""Shared fixtures: small twins and trace slices."""

from __future__ import annotations

import pytest

from twin.replay import RunSpec
from twin.traces import TraceOptions, load_trace


@pytest.fixture(scope="session")
def conv_slice():
    return load_trace("azure-conv-2023", TraceOptions(limit=300, max_context=4096)).requests


@pytest.fixture
def small_spec():
    """Llama-2-7B on one 8-chip LPU server as two tp=4 replicas: small but exercises ESL and routing."""
    return RunSpec(server="lpu-8x-4nm", model="llama2-7b", tp=4)
