"""`twin runs export`: a run's request records as CSV, Parquet or JSON Lines, page by page.

Column names follow vLLM's benchmark output where it has one (`prompt_len`, `output_tokens`,
`ttft`, `tpot`, `latency`, `success`, `error`, `start_time`; times in seconds); the rest name
the twin's own fields. The stored record can be rebuilt from every row (`record_of`).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable

from twin.errors import InvalidSpec
from twin.metrics import RequestRecord

# (column, RequestRecord field or None for a derived figure, type)
COLUMNS = (("request_id", "request_id", int), ("replica", "replica", int), ("state", "state", str),
           ("success", None, bool), ("start_time", "arrival_s", float), ("first_token_time", "first_token_s", float),
           ("finish_time", "finish_s", float), ("prompt_len", "input_tokens", int),
           ("output_tokens", "output_tokens", int), ("ttft", None, float), ("tpot", None, float),
           ("latency", None, float), ("preemptions", "preemptions", int), ("error", "reason", str))
NAMES = tuple(c for c, _, _ in COLUMNS)
FORMATS = ("csv", "parquet", "jsonl")


def row_of(r: RequestRecord) -> dict:
    row = {col: getattr(r, f) for col, f, _ in COLUMNS if f}
    row.update(success=r.state == "done", ttft=r.ttft_s, tpot=r.tpot_s, latency=r.e2e_s)
    return {name: row[name] for name in NAMES}


def record_of(row: dict) -> RequestRecord:
    """The stored record a row was written from (CSV gives strings; empty means None)."""
    def value(col: str, typ):
        v = row[col]
        if v is None or v == "" or (isinstance(v, float) and v != v):
            return None if typ is float else ("" if typ is str else v)
        return typ(v)
    return RequestRecord(**{f: value(col, typ) for col, f, typ in COLUMNS if f})


SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}


def format_of(output: str) -> str:
    """The format a file name asks for; standard output ('-') is CSV; any other suffix is an error."""
    if output == "-":
        return "csv"
    fmt = SUFFIXES.get(Path(output).suffix.lower())
    if fmt is None:
        raise InvalidSpec(output[:200], f"cannot tell the format from the suffix: name it {', '.join(SUFFIXES)} "
                                        "or give --format")
    return fmt


def export(pages: Iterable[list[RequestRecord]], fmt: str, path: Path) -> int:
    """Write every page to `path` as `fmt`; returns the number of rows. Memory: one page at a time."""
    if fmt not in FORMATS:
        raise InvalidSpec("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")
    writer = {"csv": _csv, "jsonl": _jsonl, "parquet": _parquet}[fmt]
    return writer(pages, path)


def _csv(pages, path: Path) -> int:
    n = 0
    with path.open("w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=NAMES)
        out.writeheader()
        for page in pages:
            out.writerows(row_of(r) for r in page)  # floats print as repr: they read back exactly
            n += len(page)
    return n


def _jsonl(pages, path: Path) -> int:
    n = 0
    with path.open("w") as f:
        for page in pages:
            f.writelines(json.dumps(row_of(r)) + "\n" for r in page)
            n += len(page)
    return n


def _parquet(pages, path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq
    kinds = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_()}
    schema = pa.schema([(col, kinds[typ]) for col, _, typ in COLUMNS])
    n = 0
    with pq.ParquetWriter(path, schema) as out:
        for page in pages:
            rows = [row_of(r) for r in page]
            out.write_table(pa.Table.from_pylist(rows, schema=schema))
            n += len(rows)
    return n
