"""Format presets, header detection, explicit formats and user mappings, on tiny fixture files."""

from __future__ import annotations

import gzip
import json

import pytest

from twin.errors import InvalidSpec, TraceFormatError, UnknownName
from twin.traces import ColumnMapping, TraceOptions, load_trace, parse_mapping
from twin.traces.timestamps import WallClock


def rows(trace):
    return [(r.arrival_s, r.input_tokens, r.output_tokens) for r in trace.requests]


def test_wall_clock_keeps_seven_fractional_digits():
    clock = WallClock()
    assert clock.seconds("2023-11-16 18:17:03.9799600") == 0.0
    assert clock.seconds("2023-11-16 18:17:04.0000001") == pytest.approx(0.0200401, abs=1e-12)
    assert clock.seconds("2023-11-16 18:18:03") == pytest.approx(59.02004, abs=1e-12)
    assert clock.seconds("2023-11-16 18:17:03.97996") == 0.0  # fraction of any length


def test_azure2024_detected_by_utc_offset_and_variable_fraction(write):
    path = write("a24.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                            "2024-05-10 00:00:00.009930+00:00,100,10\n"
                            "2024-05-10 00:00:01+00:00,200,20\n"
                            "2024-05-10 02:00:00.5+02:00,300,30\n")
    trace = load_trace(str(path))
    assert trace.fmt == "azure2024"
    # +02:00 local 02:00:00.5 is 00:00:00.5 UTC, so it sorts second.
    assert rows(trace) == [(0.0, 100, 10), (pytest.approx(0.49007), 300, 30), (pytest.approx(0.99007), 200, 20)]


def test_burstgpt_v1_and_v2_columns_by_name(write):
    v1 = write("b1.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                         "5,ChatGPT,472,18,490,Conversation log\n45,GPT-4,1087,230,1317,API log\n")
    v2 = write("b2.csv", "Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,"
                         "Total tokens,Log Type\n"
                         "5,s1,1.5,ChatGPT,472,18,490,Conversation log\n45,s1,2.0,GPT-4,1087,230,1317,API log\n")
    first, second = load_trace(str(v1)), load_trace(str(v2))
    assert first.fmt == second.fmt == "burstgpt"
    assert rows(first) == rows(second) == [(0.0, 472, 18), (40.0, 1087, 230)]
    assert [r.session_id for r in first.requests] == [None, None]
    assert [r.session_id for r in second.requests] == ["s1", "s1"]


def test_mooncake_ms_timestamps_and_hash_ids(write):
    records = [{"timestamp": 1500, "input_length": 700, "output_length": 5, "hash_ids": [0, 1]},
               {"timestamp": 0, "input_length": 100, "output_length": 9, "hash_ids": [0]}]
    trace = load_trace(str(write("m.jsonl", "\n".join(map(json.dumps, records)) + "\n")))
    assert (trace.fmt, trace.block_tokens) == ("mooncake", 512)
    assert rows(trace) == [(0.0, 100, 9), (1.5, 700, 5)]
    assert [r.block_ids for r in trace.requests] == [(0,), (0, 1)]


def test_ragpulse_string_times_unsorted_stable_and_flattened_blocks(write):
    def rec(ts, n, sid):
        return {"timestamp": ts, "input_length": n, "output_length": 1,
                "hash_ids": {"sys_prompt": [1], "passages_ids": [], "user_input": [n]}, "session_id": sid}
    text = "\n".join(json.dumps(r) for r in (rec("9", 10, "a"), rec("3", 20, "b"), rec("9", 30, "a"))) + "\n\n"
    trace = load_trace(str(write("r.jsonl", text)))
    assert trace.fmt == "ragpulse"
    assert rows(trace) == [(0.0, 20, 1), (6.0, 10, 1), (6.0, 30, 1)]  # tie keeps file order
    assert [r.block_ids for r in trace.requests] == [(1, 20), (1, 10), (1, 30)]
    assert [r.request_id for r in trace.requests] == [0, 1, 2]


def test_bailian_chats_share_the_root_session(write):
    records = [{"chat_id": 1, "parent_chat_id": -1, "timestamp": 0.0, "input_length": 10, "output_length": 2,
                "type": "text", "turn": 1, "hash_ids": [5]},
               {"chat_id": 2, "parent_chat_id": 1, "timestamp": 1.0, "input_length": 20, "output_length": 2,
                "type": "text", "turn": 2, "hash_ids": [5, 6]},
               {"chat_id": 3, "parent_chat_id": 2, "timestamp": 2.0, "input_length": 30, "output_length": 2,
                "type": "text", "turn": 3, "hash_ids": [5, 6, 7]}]
    trace = load_trace(str(write("q.jsonl", "\n".join(map(json.dumps, records)))))
    assert (trace.fmt, trace.block_tokens) == ("bailian", 16)
    assert [r.session_id for r in trace.requests] == ["1", "1", "1"]


def test_gzip_and_explicit_format(tmp_path):
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as stream:
        stream.write("arrived_at,num_prefill_tokens,num_decode_tokens\n0.5,10,3\n0.0,20,4\n")
    assert rows(load_trace(str(path), TraceOptions(fmt="vidur"))) == [(0.0, 20, 4), (0.5, 10, 3)]


def test_explicit_format_checks_the_header(write):
    path = write("t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0.5,10,3\n")
    with pytest.raises(TraceFormatError) as raised:
        load_trace(str(path), TraceOptions(fmt="splitwise"))
    assert (raised.value.line, raised.value.column) == (1, "prompt_size")
    assert "prompt_size, token_size, arrival_timestamp" in raised.value.message
    with pytest.raises(UnknownName, match="burstgpt"):
        load_trace(str(path), TraceOptions(fmt="nope"))


def test_unrecognised_header_names_the_file(write):
    path = write("odd.csv", "when,prompt,answer\n1,2,3\n")
    with pytest.raises(TraceFormatError, match="odd.csv:1: .*unrecognised columns"):
        load_trace(str(path))


def test_generic_csv_and_jsonl_mappings(write):
    csv_path = write("g.csv", "id,t_ms,prompt,answer,user\n7,2000,11,3,u1\n8,500,12,4,\n")
    mapping = parse_mapping("arrival=t_ms,arrival_unit=ms,input=prompt,output=answer,session=user")
    trace = load_trace(str(csv_path), TraceOptions(mapping=mapping))
    assert trace.fmt == "csv" and rows(trace) == [(0.0, 12, 4), (1.5, 11, 3)]
    assert [r.session_id for r in trace.requests] == [None, "u1"]
    jsonl_path = write("g.jsonl", '{"p": 5, "o": 6}\n{"p": 7, "o": 8}\n')
    lengths_only = load_trace(str(jsonl_path), TraceOptions(fmt="jsonl", mapping=ColumnMapping("p", "o")))
    assert rows(lengths_only) == [(0.0, 5, 6), (0.0, 7, 8)] and not lengths_only.timed


def test_mapping_is_strict_and_validated(write):
    path = write("g.csv", "t,prompt,answer\n1,2,3\n")
    with pytest.raises(TraceFormatError, match="'user'"):
        load_trace(str(path), TraceOptions(mapping=ColumnMapping("prompt", "answer", "t", session="user")))
    with pytest.raises(InvalidSpec):
        load_trace(str(path), TraceOptions(fmt="vidur", mapping=ColumnMapping("prompt", "answer")))
    with pytest.raises(InvalidSpec, match="arrival_unit"):
        ColumnMapping("prompt", "answer", "t", arrival_unit="minutes")
    with pytest.raises(InvalidSpec, match="output"):
        parse_mapping("input=prompt")
