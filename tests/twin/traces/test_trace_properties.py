"""Property: every trace reader, fed random bytes or well-formed rows of extreme values, either
yields valid requests or raises the project's input error naming the file and a line of it.

Nothing else may escape (no UnicodeDecodeError, OverflowError, RecursionError, ...), so the
CLI and the services can always turn bad input into one line.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import InvalidSpec, TraceFormatError
from twin.traces import TraceOptions, load_trace
from twin.traces.formats import FORMATS, ColumnMapping

READERS = sorted(FORMATS)  # every preset; the generic csv/jsonl readers get a mapping below
GENERIC = {"csv": ColumnMapping(input="in", output="out", arrival="t"),
           "jsonl": ColumnMapping(input="in", output="out", arrival="t")}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Cells a hostile or broken exporter might write: huge, tiny, signed, non-finite, empty, wide.
EXTREME_TEXT = st.sampled_from(["0", "-1", "1", "4294967296", "1e308", "-1e308", "1e-320", "nan", "inf", "-inf",
                                "", " ", "9" * 400, "1" * 5000, "1.5", "0x10", "\u00e9\u4e2d", "\"", "\\", "1,2",
                                "2023-11-16 18:15:46.6805900", "9999-12-31 23:59:59.9999999", "0000-00-00 00:00:00",
                                "2024-05-10 00:00:00.009930+99:99", "[1, 2]", "[-1]", "[18446744073709551616]"])
EXTREME_JSON = st.one_of(st.integers(min_value=-(10**30), max_value=10**30), st.floats(allow_nan=True),
                         st.booleans(), st.none(), st.text(max_size=30), EXTREME_TEXT,
                         st.lists(st.integers(min_value=-(2**70), max_value=2**70), max_size=4),
                         st.dictionaries(st.text(max_size=3), st.lists(st.integers(), max_size=3), max_size=2))


def options(reader: str) -> TraceOptions:
    if reader in GENERIC:
        return TraceOptions(fmt=reader, mapping=GENERIC[reader])
    return TraceOptions(fmt=reader)


def columns(reader: str) -> list[str]:
    mapping = GENERIC[reader] if reader in GENERIC else FORMATS[reader].columns
    return list(mapping.named().values())


def kind(reader: str) -> str:
    return reader if reader in GENERIC else FORMATS[reader].kind


def check(path: Path, reader: str, lines: int) -> None:
    """Valid requests, or TraceFormatError naming `path` and a line in 1..lines(+1 for end of file)."""
    try:
        trace = load_trace(path, options(reader))
    except TraceFormatError as error:
        assert error.path.endswith(path.name) and 1 <= error.line <= max(lines, 1) + 1, str(error)
        assert str(error).startswith(f"{error.path}:{error.line}: ")
        return
    except InvalidSpec as error:  # a whole-file problem (no column of the format, no requests) names the file
        assert path.name in str(error), str(error)
        return
    assert trace.requests
    previous = 0.0
    for i, r in enumerate(trace.requests):
        assert r.request_id == i
        assert math.isfinite(r.arrival_s) and r.arrival_s >= previous
        assert 1 <= r.input_tokens < 2**32 and 1 <= r.output_tokens < 2**32
        assert all(0 <= b < 2**64 for b in r.block_ids)
        previous = r.arrival_s


def write(data: bytes, suffix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="twin-prop-"))
    path = folder / f"trace{suffix}"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("reader", [*READERS, *GENERIC])
@SETTINGS
@given(data=st.binary(max_size=600))
def test_random_bytes(reader: str, data: bytes) -> None:
    path = write(data, ".jsonl" if kind(reader) == "jsonl" else ".csv")
    check(path, reader, data.count(b"\n") + 1)


@pytest.mark.parametrize("reader", [r for r in [*READERS, *GENERIC] if kind(r) == "csv"])
@SETTINGS
@given(rows=st.lists(st.lists(EXTREME_TEXT, min_size=1, max_size=6), min_size=1, max_size=6))
def test_extreme_csv_rows(reader: str, rows: list[list[str]]) -> None:
    header = columns(reader)
    lines = [",".join(header)] + [",".join(_csv_cell(c) for c in row) for row in rows]
    path = write(("\n".join(lines) + "\n").encode(), ".csv")
    check(path, reader, len(lines))


@pytest.mark.parametrize("reader", [r for r in [*READERS, *GENERIC] if kind(r) == "jsonl"])
@SETTINGS
@given(rows=st.lists(st.lists(EXTREME_JSON, min_size=1, max_size=8), min_size=1, max_size=6))
def test_extreme_jsonl_rows(reader: str, rows: list[list]) -> None:
    keys = columns(reader)
    lines = [json.dumps(dict(zip(keys, row))) for row in rows]
    path = write(("\n".join(lines) + "\n").encode(), ".jsonl")
    check(path, reader, len(lines))


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
