"""A columnar reader for big CSV traces (pyarrow.csv): the streaming reader's requests, several times faster.

The streaming reader (readers.py) decodes a row at a time in Python, about 5 us a row: a week of
Azure 2024 (millions of rows) takes tens of seconds. This reader parses the file with pyarrow's
multithreaded CSV parser and converts whole columns; it gives exactly the streaming reader's requests
(same ids, same arrivals to the last bit, same lengths) or None, and the caller then streams the file.

It takes only what it can take exactly: a plain (not .gz) CSV of at least MIN_BYTES whose preset
uses an arrival (numbers, or Azure wall-clock text with no zone or +00:00), input and output columns
and nothing else, every cell plain digits (and one decimal point for a numeric arrival). Anything
else (a bad row, a sign, a space, an empty cell, a ragged line, a session or block column) is left to
the streaming reader, which reports bad rows with file, line and column as always.

Exactness: a wall clock's whole seconds come from pyarrow's strptime (UTC, as WallClock reads naive
stamps) and its fraction as digits / 10**len in float64, both operands exact below 2**53, as
`int(fraction) / 10 ** len(fraction)` is; the arrival is then (epoch - first epoch) + (fraction -
first fraction), the streaming reader's operations in its order. Numbers parse correctly rounded in
both (pyarrow and `float`).
"""

from __future__ import annotations

from pathlib import Path

from twin.serving.request import TraceRequest
from twin.traces.cells import MAX_TOKENS
from twin.traces.formats import ARRIVAL_UNITS, FormatSpec

# Below this, importing pyarrow and numpy (about 0.15 s) costs more than the streaming reader takes.
MIN_BYTES = 8 << 20
_DIGITS = r"^[0-9]+$"
_DECIMAL = r"^[0-9]+(\.[0-9]+)?$"
_WALL_CLOCK = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,15})?(\+00:00)?$"
MAX_FRACTION_DIGITS = 15  # 10**15 < 2**53: digits and divisor are exact in float64


def eligible(path: Path, spec: FormatSpec, located: dict) -> bool:
    """Whether this reader may try the file (it may still decline, see `read`)."""
    if spec.kind != "csv" or path.suffix == ".gz" or set(located) != {"arrival", "input", "output"}:
        return False
    try:
        return path.stat().st_size >= MIN_BYTES
    except OSError:
        return False


def read(path: Path, spec: FormatSpec, located: dict, columns: int) -> list[TraceRequest] | None:
    """The file's requests in file order, ids from 0; None when the streaming reader must read it."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv

    names = [f"c{i}" for i in range(columns)]
    wanted = {role: names[located[role][0]] for role in ("arrival", "input", "output")}
    try:
        table = csv.read_csv(path, read_options=csv.ReadOptions(skip_rows=1, column_names=names),
                             parse_options=csv.ParseOptions(newlines_in_values=False),
                             convert_options=csv.ConvertOptions(
                                 column_types={n: pa.string() for n in names}, include_columns=sorted(set(wanted.values())),
                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError):
        return None
    if table.num_rows == 0:
        return None
    inputs, outputs = (_tokens(table.column(wanted[role]), pc) for role in ("input", "output"))
    arrivals = _arrivals(table.column(wanted["arrival"]), spec, pc)
    if inputs is None or outputs is None or arrivals is None:
        return None
    return [TraceRequest(i, a, n, m) for i, (a, n, m) in enumerate(zip(arrivals, inputs, outputs))]


def _tokens(column, pc) -> list[int] | None:
    if not pc.all(pc.match_substring_regex(column, _DIGITS)).as_py():
        return None
    if not pc.all(pc.less_equal(pc.utf8_length(column), 10)).as_py():
        return None  # 11+ digits is past MAX_TOKENS: the streaming reader says so
    counts = pc.cast(column, "int64")
    if not pc.all(pc.and_(pc.greater_equal(counts, 1), pc.less_equal(counts, MAX_TOKENS))).as_py():
        return None
    return counts.to_pylist()


def _arrivals(column, spec: FormatSpec, pc) -> list[float] | None:
    unit = spec.columns.arrival_unit
    if unit != "datetime":
        if not pc.all(pc.match_substring_regex(column, _DECIMAL)).as_py():
            return None
        numbers = pc.cast(column, "double").to_numpy()
        return (numbers * ARRIVAL_UNITS[unit]).tolist()
    if not pc.all(pc.match_substring_regex(column, _WALL_CLOCK)).as_py():
        return None
    return _wall_clock(column, pc)


def _wall_clock(column, pc) -> list[float] | None:
    import numpy as np
    import pyarrow as pa

    try:
        whole = pc.strptime(pc.utf8_slice_codeunits(column, 0, 19), format="%Y-%m-%d %H:%M:%S", unit="s")
    except (pa.ArrowInvalid, ValueError):  # e.g. a 13th month: the streaming reader names the row
        return None
    epoch = pc.cast(whole, "int64").to_numpy()
    digits = pc.utf8_slice_codeunits(pc.replace_substring(column, "+00:00", ""), 20, 20 + MAX_FRACTION_DIGITS)
    lengths = pc.utf8_length(digits).to_numpy()
    values = pc.cast(pc.if_else(pc.equal(lengths, 0), "0", digits), "int64").to_numpy()
    divisors = np.array([float(10 ** k) for k in range(MAX_FRACTION_DIGITS + 1)])[lengths]
    part = np.where(lengths == 0, 0.0, values / divisors)
    return ((epoch - epoch[0]).astype(np.float64) + (part - part[0])).tolist()
