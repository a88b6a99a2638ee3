"""Trace requests, request records and series samples as column messages, both ways.

A message per request costs about 10 µs to build and as much to read back in Python; a
column is one C-level `extend` of a list, so a whole trace or a slice's records cross the
wire for a few milliseconds. Element i of every column belongs to item i. Optional times
travel as NaN (a simulated time is never NaN); optional strings and block lists as empty
columns when no item has one, so the common trace without sessions or blocks sends neither.
"""

from __future__ import annotations

import math
from itertools import accumulate, repeat
from typing import Sequence

from twin.metrics import RequestRecord, SeriesSample
from twin.serving.request import TraceRequest
from twin_api.v1 import common_pb2

NAN = math.nan


def trace_columns(requests: Sequence[TraceRequest]) -> common_pb2.TraceColumns:
    msg = common_pb2.TraceColumns(request_id=[r.request_id for r in requests],
                                  arrival_s=[r.arrival_s for r in requests],
                                  input_tokens=[r.input_tokens for r in requests],
                                  output_tokens=[r.output_tokens for r in requests])
    if any(r.session_id for r in requests):
        msg.session_id.extend([r.session_id or "" for r in requests])
    if any(r.block_ids for r in requests):
        msg.block_counts.extend([len(r.block_ids) for r in requests])
        msg.block_ids.extend([b for r in requests for b in r.block_ids])
        if any(r.block_sizes for r in requests):  # sizes go with every block, or not at all
            msg.block_sizes.extend([s for r in requests for s in (r.block_sizes or repeat(0, len(r.block_ids)))])
    return msg


def trace_requests(msg: common_pb2.TraceColumns) -> list[TraceRequest]:
    """The requests of `msg`; InvalidSpec if its columns disagree in length."""
    n = len(msg.request_id)
    _same_length("columns", n, arrival_s=msg.arrival_s, input_tokens=msg.input_tokens,
                 output_tokens=msg.output_tokens)
    _same_length("columns", n, optional=True, session_id=msg.session_id, block_counts=msg.block_counts)
    sessions = [s or None for s in msg.session_id] if msg.session_id else repeat(None, n)
    blocks, sizes = repeat((), n), repeat((), n)  # two iterators: map draws from each
    if msg.block_counts:
        ends = list(accumulate(msg.block_counts))
        _same_length("columns", ends[-1] if ends else 0, block_ids=msg.block_ids)
        _same_length("columns", len(msg.block_ids), optional=True, block_sizes=msg.block_sizes)
        blocks = _split(msg.block_ids, ends)
        sizes = _split(msg.block_sizes, ends) if msg.block_sizes else sizes
    return list(map(TraceRequest, msg.request_id, msg.arrival_s, msg.input_tokens, msg.output_tokens,
                    sessions, blocks, sizes))


def _split(values, ends: list[int]) -> list[tuple[int, ...]]:
    values = list(values)
    return [tuple(values[start:end]) for start, end in zip([0, *ends[:-1]], ends)]


def _same_length(field: str, n: int, optional: bool = False, **columns) -> None:
    from twin.errors import InvalidSpec
    for name, column in columns.items():
        if len(column) != n and not (optional and len(column) == 0):
            raise InvalidSpec(f"{field}.{name}", f"has {len(column):,} entries where {n:,} are expected")


def record_columns(records: Sequence[RequestRecord]) -> common_pb2.RequestRecordColumns:
    return common_pb2.RequestRecordColumns(
        # int() as convert.record_msg does: a count computed as a float must not fail the drain.
        request_id=[int(r.request_id) for r in records], replica=[int(r.replica) for r in records],
        state=[str(r.state) for r in records], arrival_s=[r.arrival_s for r in records],
        input_tokens=[int(r.input_tokens) for r in records], output_tokens=[int(r.output_tokens) for r in records],
        first_token_s=[NAN if r.first_token_s is None else r.first_token_s for r in records],
        finish_s=[NAN if r.finish_s is None else r.finish_s for r in records],
        preemptions=[int(r.preemptions) for r in records], reason=[str(r.reason) for r in records])


def records(msg: common_pb2.RequestRecordColumns) -> list[RequestRecord]:
    n = len(msg.request_id)
    _same_length("request_columns", n, replica=msg.replica, state=msg.state, arrival_s=msg.arrival_s,
                 input_tokens=msg.input_tokens, output_tokens=msg.output_tokens, first_token_s=msg.first_token_s,
                 finish_s=msg.finish_s, preemptions=msg.preemptions, reason=msg.reason)
    first = [None if t != t else t for t in msg.first_token_s]  # NaN: never
    finish = [None if t != t else t for t in msg.finish_s]
    return list(map(RequestRecord, msg.request_id, msg.replica, msg.state, msg.arrival_s, msg.input_tokens,
                    msg.output_tokens, first, finish, msg.preemptions, msg.reason))


def sample_columns(samples: Sequence[SeriesSample]) -> common_pb2.SeriesColumns:
    return common_pb2.SeriesColumns(t_s=[s.t_s for s in samples], name=[str(s.name) for s in samples],
                                    value=[s.value for s in samples])


def samples(msg: common_pb2.SeriesColumns) -> list[SeriesSample]:
    _same_length("sample_columns", len(msg.t_s), name=msg.name, value=msg.value)
    return list(map(SeriesSample, msg.t_s, msg.name, msg.value))
