"""The twin's own export (``twin runs export``) as a measurement: CSV or JSON Lines, streamed.

Columns follow vLLM's benchmark names: ``start_time``, ``prompt_len``, ``output_tokens``,
``ttft``, ``tpot``, ``latency`` (seconds); ``request_id`` and ``success`` are used when present
(rows whose ``success`` is false are counted as failed and left out).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path

from twin.errors import TraceFormatError
from twin.measure.records import MeasuredRequest, Measurement, check_request, file_sha256, rebased
from twin.traces.readers import text_lines

REQUIRED = ("start_time", "prompt_len", "output_tokens", "ttft", "latency")
FALSE = ("false", "0", "no", "")


def read(path: Path, fmt: str) -> Measurement:
    rows = _csv_rows(path) if fmt == "csv" else _jsonl_rows(path)
    requests, failed = [], 0
    for line, row in rows:
        if _failed(row):
            failed += 1
            continue
        requests.append(check_request(_request(row, path.name, line, len(requests)), (path.name, line)))
    return Measurement(path.name, file_sha256(path), rebased(requests), failed=failed)


def _csv_rows(path: Path) -> Iterator[tuple[int, dict]]:
    lines = text_lines(path)
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise TraceFormatError(path.name, 1, missing[0], "missing column (a twin export has start_time, "
                                                         "prompt_len, output_tokens, ttft, tpot, latency)")
    for values in reader:
        if values:
            yield reader.line_num, dict(zip(header, values))


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    for number, text in enumerate(text_lines(path), 1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except ValueError as exc:
            raise TraceFormatError(path.name, number, "<line>", f"not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise TraceFormatError(path.name, number, "<line>", "must be a JSON object")
        yield number, row


def _failed(row: dict) -> bool:
    value = row.get("success", True)
    return value is False or (isinstance(value, str) and value.strip().lower() in FALSE)


def _request(row: dict, name: str, line: int, index: int) -> MeasuredRequest:
    def number(col: str, kind=float, optional: bool = False):
        value = row.get(col)
        if optional and (value is None or value == ""):
            return None
        try:
            out = kind(float(value)) if kind is int else float(value)
        except (TypeError, ValueError, OverflowError):
            raise TraceFormatError(name, line, col, f"not a number: {str(value)[:40]!r}") from None
        if kind is int and out != float(value):
            raise TraceFormatError(name, line, col, f"must be a whole number of tokens, got {value!r}")
        return out
    ident = number("request_id", int, optional=True)
    output = number("output_tokens", int)
    tpot = number("tpot", optional=True) if output > 1 else None
    if output > 1 and (tpot is None or math.isnan(tpot)):
        raise TraceFormatError(name, line, "tpot", f"missing for a {output}-token answer")
    return MeasuredRequest(index if ident is None else ident, number("start_time"), number("prompt_len", int),
                           output, number("ttft"), tpot, number("latency"))
