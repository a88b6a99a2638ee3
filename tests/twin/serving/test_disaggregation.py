"""KV transfers between disaggregated pools: layer-by-layer, after each prefill layer, FIFO on a link."""

from __future__ import annotations

import pytest

from twin.errors import InvalidSpec
from twin.serving.disaggregation import KvLink, TransferLog, layer_ready_times, parse_pd, reserve


def test_parse_pd():
    assert parse_pd("1:3") == (1, 3)
    for bad in ("2", "0:1", "a:b", "1:-1"):
        with pytest.raises(InvalidSpec, match="pd"):
            parse_pd(bad)


def test_a_layer_never_starts_before_the_prefill_finished_it():
    link = KvLink("net", bytes_per_s=1e9, latency_s=1e-5)
    ready = layer_ready_times(0.0, 1e-4, 1e-3, layers=32)
    t = reserve([link], ready, layer_bytes=5e5, not_before=0.0)  # 0.5 ms per layer on the wire
    assert all(s >= r for s, r in zip(t.layer_starts, ready))
    assert t.layer_starts == pytest.approx(ready)  # the link keeps up: fully overlapped
    assert t.end_s == pytest.approx(ready[-1] + 5e-4 + 1e-5)
    assert t.bytes == 32 * 5e5


def test_a_slow_link_exposes_the_tail_and_queues_the_next_transfer():
    link = KvLink("esl", bytes_per_s=1e8, latency_s=0.0)
    ready = layer_ready_times(0.0, 0.0, 1e-3, layers=4)
    a = reserve([link], ready, layer_bytes=1e6, not_before=0.0)  # 10 ms a layer: link-bound
    assert a.layer_starts == pytest.approx([1e-3, 11e-3, 21e-3, 31e-3]) and a.end_s == pytest.approx(41e-3)
    b = reserve([link], ready, layer_bytes=1e6, not_before=0.0)
    assert b.start_s == pytest.approx(a.end_s)  # FIFO: waits for the first transfer
    log = TransferLog()
    log.add(a, 0.0)
    assert log.summary()["hidden_share"] == pytest.approx(1 - (41e-3 - 4e-3) / 40e-3)


def test_an_infinite_zero_latency_link_ends_with_the_last_layer():
    link = KvLink("ideal", bytes_per_s=float("inf"), latency_s=0.0)
    ready = layer_ready_times(2.0, 0.0, 1e-3, layers=8)
    assert reserve([link], ready, 1e9, 0.0).end_s == ready[-1]
