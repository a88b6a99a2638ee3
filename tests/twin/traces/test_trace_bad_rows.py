"""Bad rows: by default an error naming file, line and column; with on_bad_row='skip', dropped and counted."""

from __future__ import annotations

import pytest

from twin.errors import InvalidSpec, TraceFormatError
from twin.traces import TraceOptions, load_trace

HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
GOOD = "2023-11-16 18:15:46.6805900,374,44\n"

# (bad line, column named in the error, words in the message)
BAD_LINES = [
    ("2023-11-16 18:15:47.0000000,abc,44\n", "ContextTokens", "expected a number"),
    ("2023-11-16 18:15:47.0000000,-5,44\n", "ContextTokens", ">= 1"),
    ("2023-11-16 18:15:47.0000000,374,0\n", "GeneratedTokens", ">= 1"),
    ("2023-11-16 18:15:47.0000000,374\n", "GeneratedTokens", "missing field"),
    ("16/11/2023 18:15:47,374,44\n", "TIMESTAMP", "not a timestamp"),
    ("2023-11-16 18:15:47.0000000,374,4.5\n", "GeneratedTokens", "integer"),
]


@pytest.mark.parametrize("line, column, words", BAD_LINES)
def test_bad_row_error_names_file_line_and_column(write, line, column, words):
    path = write("bad.csv", HEADER + GOOD + "\n" + line + GOOD)
    with pytest.raises(TraceFormatError) as raised:
        load_trace(str(path))
    error = raised.value
    assert (error.path, error.line, error.column) == (str(path), 4, column)  # line 3 is blank
    assert words in error.message
    assert str(error).startswith(f"{path}:4: column {column!r}")


@pytest.mark.parametrize("line, column, words", BAD_LINES)
def test_skip_mode_drops_and_counts(write, line, column, words):
    path = write("bad.csv", HEADER + GOOD + line + line + GOOD)
    trace = load_trace(str(path), TraceOptions(on_bad_row="skip"))
    assert (len(trace.requests), trace.bad_rows) == (2, 2)
    assert trace.first_bad_row.startswith(f"{path}:3: column {column!r}")


def test_jsonl_bad_rows(write):
    text = ('{"timestamp": 0, "input_length": 1, "output_length": 1, "hash_ids": []}\n'
            "not json\n"
            '{"timestamp": -3, "input_length": 1, "output_length": 1, "hash_ids": []}\n'
            '{"timestamp": 5, "output_length": 1, "hash_ids": []}\n'
            '[1, 2]\n')
    path = write("bad.jsonl", text)
    with pytest.raises(TraceFormatError) as raised:
        load_trace(str(path))
    assert (raised.value.line, raised.value.column) == (2, "<json>")
    trace = load_trace(str(path), TraceOptions(on_bad_row="skip"))
    assert (len(trace.requests), trace.bad_rows) == (1, 4)
    with pytest.raises(TraceFormatError) as raised:
        load_trace(str(write("neg.jsonl", text.replace("not json\n", ""))))
    assert (raised.value.line, raised.value.column) == (2, "timestamp")


def test_on_bad_row_is_validated():
    with pytest.raises(InvalidSpec, match="on_bad_row"):
        TraceOptions(on_bad_row="ignore")


def test_unreadable_first_record_stops_detection(write):
    with pytest.raises(TraceFormatError) as raised:
        load_trace(str(write("list.jsonl", "\n{not json\n")))
    assert (raised.value.line, raised.value.column) == (2, "<json>")
