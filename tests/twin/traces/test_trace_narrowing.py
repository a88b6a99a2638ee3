"""A file read through a window or a limit keeps only the rows those options leave, as it streams,
and gives exactly what reading the whole file and then applying the options gives."""

from __future__ import annotations

import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import InvalidSpec
from twin.traces import TraceOptions, load_trace
from twin.traces.formats import ColumnMapping
from twin.traces.loader import apply_options, read_file

MAPPING = ColumnMapping(input="in", output="out", arrival="t")


def write_csv(path: Path, rows: list[tuple[float, int, int]]) -> Path:
    path.write_text("t,in,out\n" + "".join(f"{t!r},{i},{o}\n" for t, i, o in rows))
    return path


def whole_then_options(path: Path, options: TraceOptions) -> list:
    """The reference: every row read and sorted, then the options applied to the list."""
    return apply_options(read_file(str(path), options).requests, options)[0]


# Arrivals on a coarse grid, so ties are common, in any order (a row may come before the first one).
ROWS = st.lists(st.tuples(st.integers(0, 40).map(lambda k: k * 0.5), st.integers(1, 900), st.integers(1, 90)),
                min_size=1, max_size=60)
OPTIONS = st.builds(
    lambda start, width, limit, sample, seed: TraceOptions(
        fmt="csv", mapping=MAPPING, window_start_s=start, window_end_s=None if width is None else start + width,
        limit=limit, sample_fraction=sample, sample_seed=seed),
    st.sampled_from([0.0, 0.5, 3.0, 7.25]), st.one_of(st.none(), st.sampled_from([0.5, 2.0, 9.0])),
    st.one_of(st.none(), st.integers(0, 25)), st.sampled_from([1.0, 0.5]), st.integers(0, 3))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS, options=OPTIONS)
def test_narrowed_read_equals_the_whole_read_with_options(rows, options):
    with tempfile.TemporaryDirectory() as folder:
        path = write_csv(Path(folder) / "trace.csv", rows)
        expected = whole_then_options(path, options)
        if not expected:
            with pytest.raises(InvalidSpec, match="no requests left"):
                load_trace(path, options)
            return
        assert load_trace(path, options).requests == expected


@pytest.mark.parametrize("options", [TraceOptions(limit=1000), TraceOptions(window_start_s=600, window_end_s=1200),
                                     TraceOptions(window_start_s=600, window_end_s=1200, limit=50)],
                         ids=["limit", "window", "window+limit"])
def test_the_azure_trace_narrowed_equals_the_whole_read(options):
    narrowed = load_trace("azure-conv-2023", options)
    assert narrowed.requests == whole_then_options(Path(narrowed.path), options)
    assert narrowed.out_of_order == read_file("azure-conv-2023", options).out_of_order  # counted over the file


N_ROWS = 50_000
# Reading the whole file holds every request: over 100 bytes each (measured: 179 at 100,000 rows),
# 5 MB here. Narrowed, what is held is the kept rows (1,000 at most) and the reader's buffers.
NARROWED_PEAK_BYTES = 1e6


@pytest.mark.parametrize("options, kept", [(TraceOptions(limit=100), range(100)),
                                           (TraceOptions(window_start_s=100, window_end_s=110), range(10_000, 11_000))],
                         ids=["limit", "window"])
def test_a_narrowed_read_holds_only_the_rows_it_keeps(tmp_path, options, kept):
    path = write_csv(tmp_path / "big.csv", [(i / 100, 100 + i % 500, 20 + i % 50) for i in range(N_ROWS)])
    options = TraceOptions(fmt="csv", mapping=MAPPING, window_start_s=options.window_start_s,
                           window_end_s=options.window_end_s, limit=options.limit)
    tracemalloc.start()
    try:
        trace = load_trace(path, options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.input_tokens for r in trace.requests] == [100 + i % 500 for i in kept]
    assert peak < NARROWED_PEAK_BYTES, f"{peak:,} bytes"
