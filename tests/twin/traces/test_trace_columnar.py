"""The columnar reader (pyarrow.csv) gives the streaming reader's requests exactly, or declines; a big file
with a bad row still fails with the streaming reader's file, line and column."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from twin.errors import TraceFormatError
from twin.traces import FORMATS, columnar, load_trace
from twin.traces.builtin import builtin_trace
from twin.traces.decoder import locate
from twin.traces.readers import stream_requests


def streamed(path: Path, fmt: str) -> list:
    return list(stream_requests(path, FORMATS[fmt]))  # files under MIN_BYTES: the streaming reader


def columns(path: Path, fmt: str):
    header = path.read_text().splitlines()[0].split(",")
    located = locate(FORMATS[fmt], [h.strip() for h in header], by_position=True)
    return columnar.read(path, FORMATS[fmt], located, len(header))


@pytest.mark.parametrize("name", ["azure-conv-2023", "azure-code-2023"])
def test_the_azure_traces_come_out_bit_identical(name):
    path = builtin_trace(name).path
    fast = columns(path, "azure2023")
    assert fast is not None and len(fast) > 8000
    assert fast == streamed(path, "azure2023")  # ids, arrivals (floats compared exactly), lengths
    assert fast[0].arrival_s == 0.0


def write_azure2024(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    second = 1715299200  # 2024-05-10 00:00:00 UTC
    for _ in range(rows):
        second += rng.choice([0, 0, 1, 59, 3600])
        digits = rng.choice([0, 1, 3, 6, 7, 9, 15])
        fraction = "" if digits == 0 else "." + "".join(rng.choice("0123456789") for _ in range(digits))
        stamp = f"{_utc(second)}{fraction}{rng.choice(['+00:00', ''])}"
        lines.append(f"{stamp},{rng.randint(1, 2**31 - 1)},{rng.randint(1, 5000)}")
    path.write_text("\n".join(lines) + "\n")


def _utc(second: int) -> str:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_wall_clocks_with_zones_and_any_fraction_come_out_bit_identical(tmp_path):
    path = tmp_path / "week.csv"
    write_azure2024(path, 5000, seed=3)
    fast = columns(path, "azure2024")
    assert fast is not None and len(fast) == 5000
    assert fast == streamed(path, "azure2024")


def test_numeric_arrivals_come_out_bit_identical(tmp_path):
    rng = random.Random(5)
    path = tmp_path / "vidur.csv"
    rows = [f"{rng.uniform(0, 1e5):.{rng.randint(0, 17)}f},{rng.randint(1, 9000)},{rng.randint(1, 900)}"
            for _ in range(3000)]
    path.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n" + "\n".join(rows) + "\n")
    fast = columns(path, "vidur")
    assert fast is not None and fast == streamed(path, "vidur")


@pytest.mark.parametrize("bad", ["2023-11-16 18:15:46.1,-3,4", "2023-11-16 18:15:46.1, 3,4", "2023-11-16 18:15:46.1,,4",
                                 "2023-13-16 18:15:46.1,3,4", "2023-11-16T18:15:46,3,4", "2023-11-16 18:15:46,0,4",
                                 "2023-11-16 18:15:46,3,4,5", "2023-11-16 18:15:46.1234567890123456,3,4",
                                 "2023-11-16 18:15:46+01:00,3,4", "2023-11-16 18:15:46,99999999999,4"])
def test_it_declines_what_it_cannot_take_exactly(tmp_path, bad):
    path = tmp_path / "t.csv"
    path.write_text(f"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:45.5,10,20\n{bad}\n")
    assert columns(path, "azure2023") is None


def test_a_big_file_with_a_bad_row_fails_with_its_file_line_and_column(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    write_azure2024(path, 3000, seed=7)
    lines = path.read_text().splitlines()
    lines[1234] = lines[1234].rsplit(",", 1)[0] + ",many"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(columnar, "MIN_BYTES", 0)  # as if it were big: the columnar reader tries it first
    with pytest.raises(TraceFormatError) as error:
        load_trace(str(path))
    assert (error.value.line, error.value.column) == (1235, "GeneratedTokens")
    assert str(path) in str(error.value)


def test_a_big_clean_file_loads_as_the_streaming_reader_loads_it(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    write_azure2024(path, 4000, seed=11)
    slow = load_trace(str(path))
    monkeypatch.setattr(columnar, "MIN_BYTES", 0)
    answers = []
    read = columnar.read
    monkeypatch.setattr(columnar, "read", lambda *args: answers.append(read(*args)) or answers[-1])
    fast = load_trace(str(path))
    assert len(answers) == 1 and answers[0] is not None  # the columnar reader read it
    assert fast.requests == slow.requests and fast.fmt == slow.fmt == "azure2024"
