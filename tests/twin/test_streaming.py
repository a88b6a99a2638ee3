"""Replays fed lazily from a stream, with records handed to a sink, run in memory that does not grow with N."""

from __future__ import annotations

import gc
import os
import tracemalloc

import pytest

from twin.config import ServingConfig
from twin.replay import RunSpec, replay
from twin.serving import shape_cost
from twin.traces import iter_synthetic, load_trace, parse_synthetic

MIX = "synthetic:poisson?rate=45&n={n}&input=16..64&output=2..4&seed=5"  # about 75 % of what the replica serves
# Records, samples and requests in flight leave; what stays is bounded by the percentile sketch:
# up to 50 k exact latencies of 3 kinds (1.2 MB), then its buckets (about 1 MB whatever N).
# Measured: 2.8 MB at 10 k requests, 6.8 MB at 100 k (both phases of the sketch alive at the switch).
PEAK_BOUND_BYTES = 10e6
# Below 50 k requests the percentiles are still exact (24 bytes a request, in arrays that grow by
# doubling); a request or record left behind would cost over 500 bytes.
GROWTH_BYTES_PER_REQUEST = 200
# Bounded caches still filling between the two runs: the step-shape cache holds at most
# twin.serving.shape_cost.LIMIT shapes of about 600 bytes (a shape, its layer cost, its token-count part).
CACHE_FILL_BYTES = shape_cost.LIMIT * 600


def spec() -> RunSpec:
    return RunSpec("lpu-8x-4nm", "llama2-7b", tp=8, serving=ServingConfig(policy="decode-first"))


def test_a_stream_replays_as_the_same_list_does():
    source = MIX.format(n=2000)
    listed = replay(spec().build(), load_trace(source).requests)
    kept = []
    sim = spec().build()
    streamed = replay(sim, iter_synthetic(parse_synthetic(source)), sink=lambda r, s: kept.extend(r))
    for summary in (streamed.summary, listed.summary):  # where the run stopped: the end of its last slice
        summary["twin"].pop("simulated_s")
    assert streamed.summary == listed.summary
    assert len(kept) == 2000 and sim.recorder.requests == []  # handed to the sink, not kept


def peak_traced_bytes(n: int) -> float:
    sim = spec().build()
    stream = iter_synthetic(parse_synthetic(MIX.format(n=n)))
    gc.collect()  # an earlier test's cyclic garbage is not this run's peak
    tracemalloc.start()
    try:
        result = replay(sim, stream, sink=lambda r, s: None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.status == "complete" and result.summary["requests"]["done"] == n
    return peak


def test_peak_memory_of_a_streamed_replay_does_not_grow_with_its_length():
    peak_traced_bytes(1_000)  # first: what a first run sets up once (imports, catalogue caches)
    small, large = peak_traced_bytes(1_000), peak_traced_bytes(10_000)
    assert small < PEAK_BOUND_BYTES and large < PEAK_BOUND_BYTES
    assert large - small < GROWTH_BYTES_PER_REQUEST * 9_000 + CACHE_FILL_BYTES


@pytest.mark.skipif(not os.environ.get("TWIN_SLOW_TESTS"), reason="10 k and 100 k traced runs take minutes: "
                                                                    "set TWIN_SLOW_TESTS=1")
def test_peak_memory_of_10k_and_100k_request_replays_stays_within_the_bound():
    small, large = peak_traced_bytes(10_000), peak_traced_bytes(100_000)
    assert small < PEAK_BOUND_BYTES and large < PEAK_BOUND_BYTES
