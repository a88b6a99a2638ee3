"""Streaming trace files (CSV or JSONL, optionally gzipped) into ``TraceRequest``s.

``detect_format`` picks the format from the header (or first JSON record), an
explicit ``fmt`` or a user mapping; ``stream_requests`` then yields requests in
file order with the trace's own times (not sorted, not rebased: ``load_trace``
does that). Bad rows raise ``TraceFormatError`` naming file, 1-based line and
column, or, with policy "skip", are dropped and counted in ``BadRows``.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from twin.errors import InvalidSpec, TraceFormatError, quote
from twin.serving.request import TraceRequest
from twin.traces import formats
from twin.traces.cells import CellError
from twin.traces import columnar
from twin.traces.decoder import RowDecoder, locate
from twin.traces.formats import ColumnMapping, FormatSpec
from twin.traces.timestamps import has_zone

BAD_ROW_POLICIES = ("raise", "skip")


@dataclass
class BadRows:
    """What to do with a bad row, and how many were dropped. One per read."""

    policy: str = "raise"
    count: int = 0
    first: str | None = None  # message of the first dropped row, for a warning

    def __post_init__(self) -> None:
        if self.policy not in BAD_ROW_POLICIES:
            raise InvalidSpec("on_bad_row", f"must be one of {', '.join(BAD_ROW_POLICIES)}, got {self.policy!r}")

    def handle(self, error: TraceFormatError) -> None:
        if self.policy == "raise":
            raise error
        self.count += 1
        if self.first is None:
            self.first = str(error)


MAX_LINE_BYTES = 1 << 20  # no trace format has longer lines; a longer one is a binary or broken file


def text_lines(path: Path) -> Iterator[str]:
    """Decoded lines of a trace (``.gz`` decompressed, a UTF-8 BOM dropped), each at most
    ``MAX_LINE_BYTES``: memory stays bounded whatever the file holds, and a binary file is a
    ``TraceFormatError`` naming its first bad line, not a ``UnicodeDecodeError``."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as raw:
        for number in itertools.count(1):
            line = _read_line(raw, path, number)
            if not line:
                return
            yield _decode(line, path, number)


def _read_line(raw, path: Path, number: int) -> bytes:
    try:
        line = raw.readline(MAX_LINE_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:  # a corrupt or truncated .gz
        raise TraceFormatError(str(path), number, "<file>", f"cannot read: {exc}") from None
    if len(line) > MAX_LINE_BYTES:
        raise TraceFormatError(str(path), number, "<line>", f"line longer than {MAX_LINE_BYTES:,} bytes "
                                                          "(not a trace, or a binary file)")
    return line


def _decode(line: bytes, path: Path, number: int) -> str:
    if b"\0" in line:
        raise TraceFormatError(str(path), number, "<line>", "NUL bytes: a binary file, not a text trace")
    try:
        return line.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise TraceFormatError(str(path), number, "<line>",
                               f"not UTF-8 text (byte {exc.start + 1} of the line): a binary file?") from None


def sniff_kind(path: Path) -> str:
    """'jsonl' if the first non-blank character is '{', else 'csv'."""
    for line in text_lines(path):
        if line.strip():
            return "jsonl" if line.lstrip().startswith("{") else "csv"
    raise TraceFormatError(str(path), 1, "<file>", "empty trace file")


def detect_format(path: Path, fmt: str | None = None, mapping: ColumnMapping | None = None) -> FormatSpec:
    """The format of ``path``: a preset named by ``fmt``, a user ``mapping``
    (``fmt`` then 'csv'/'jsonl' or None to sniff), or detection from the header."""
    if fmt is not None and fmt not in formats.GENERIC_KINDS:
        if mapping is not None:
            raise InvalidSpec("mapping", f"a column mapping cannot be combined with preset format {fmt!r}; "
                                         "give --format csv or jsonl with --mapping (TraceOptions fmt)")
        return formats.preset(fmt)
    if mapping is not None:
        return formats.generic(fmt or sniff_kind(path), mapping)
    if fmt is not None:
        raise InvalidSpec("mapping", f"format {fmt!r} needs a column mapping (--mapping)")
    return _detect_preset(path)


def _detect_preset(path: Path) -> FormatSpec:
    kind = sniff_kind(path)
    header, first = _peek(path, kind)
    spec = formats.detect(kind, header)
    if spec is None:
        known = ", ".join(name for name, s in formats.FORMATS.items() if s.kind == kind)
        raise TraceFormatError(str(path), 1, "<header>",
                               f"unrecognised columns {quote(str(header), 200)}; known {kind} formats: {known}; "
                               "name one with --format, or map the columns with --mapping "
                               "(e.g. 'arrival=ts:ms,input=prompt,output=completion')")
    # Azure 2023 and 2024 share a header; the 2024 timestamps carry a UTC offset.
    if spec.name == "azure2023" and first is not None:
        position = formats.find_column(header, spec.columns.arrival)
        if position < len(first) and has_zone(str(first[position])):
            return formats.FORMATS["azure2024"]
    return spec


def _peek(path: Path, kind: str) -> tuple[list[str], list | None]:
    """Header names and the first data row (CSV), or the first record's keys and values (JSONL)."""
    stream = text_lines(path)
    if kind == "csv":
        reader = csv.reader(stream)
        try:
            header = next(reader, [])
            first = next((row for row in reader if row), None)
        except csv.Error as error:
            raise TraceFormatError(str(path), reader.line_num, "<row>", f"malformed CSV: {error}") from None
        return [name.strip() for name in header], first
    number, line = next((n, line) for n, line in enumerate(stream, start=1) if line.strip())
    try:
        record = _record(line)
    except CellError as error:
        raise TraceFormatError(str(path), number, error.column, error.message) from None
    return list(record), list(record.values())


def stream_requests(path: Path, spec: FormatSpec, bad: BadRows | None = None) -> Iterator[TraceRequest]:
    """Requests of ``path`` in file order; ``request_id`` counts good rows from 0."""
    bad = bad if bad is not None else BadRows()
    if spec.kind == "csv":
        return _stream_csv(path, spec, bad)
    return _stream_jsonl(path, spec, bad)


def _stream_csv(path: Path, spec: FormatSpec, bad: BadRows) -> Iterator[TraceRequest]:
    reader = csv.reader(text_lines(path))
    try:
        header = [name.strip() for name in next(reader, [])]
    except csv.Error as error:
        raise TraceFormatError(str(path), reader.line_num, "<header>", f"malformed CSV: {error}") from None
    try:
        located = locate(spec, header, by_position=True)
        decoder = RowDecoder(spec, located)
    except CellError as error:
        raise TraceFormatError(str(path), 1, error.column, error.message) from None
    if columnar.eligible(path, spec, located):  # a big, clean file: whole columns at once, same requests
        requests = columnar.read(path, spec, located, len(header))
        if requests is not None:
            yield from requests
            return
    count = 0
    for row in _csv_rows(reader, path, bad):
        try:
            request = decoder.decode(row, count)
        except CellError as error:
            bad.handle(TraceFormatError(str(path), reader.line_num, error.column, error.message))
            continue
        count += 1
        yield request


def _csv_rows(reader, path: Path, bad: BadRows) -> Iterator[list[str]]:
    """Non-blank rows; a row the csv module cannot split is a bad row (line = reader.line_num)."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            bad.handle(TraceFormatError(str(path), reader.line_num, "<row>", f"malformed CSV: {error}"))
            continue
        if row:
            yield row


def _stream_jsonl(path: Path, spec: FormatSpec, bad: BadRows) -> Iterator[TraceRequest]:
    decoder, count = None, 0
    for line_number, line in enumerate(text_lines(path), start=1):
        if not line.strip():
            continue  # blank lines (RAGPulse ends with one)
        try:
            record = _record(line)
            if decoder is None:
                # Keys are located once, from the first record, as a CSV header would be.
                decoder = RowDecoder(spec, locate(spec, list(record), by_position=False))
            request = decoder.decode(record, count)
        except CellError as error:
            bad.handle(TraceFormatError(str(path), line_number, error.column, error.message))
            continue
        count += 1
        yield request


def _record(line: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise CellError("<json>", f"invalid JSON: {error.msg}") from None
    except (ValueError, RecursionError) as error:  # a 5000-digit number, nesting 10^5 deep
        raise CellError("<json>", f"invalid JSON: {type(error).__name__}: {quote(str(error))}") from None
    if not isinstance(record, dict):
        raise CellError("<json>", f"expected a JSON object, got {type(record).__name__}")
    return record
