"""The decode batch's running totals and the KV cache's followers against a brute-force recount."""

from __future__ import annotations

import random

from twin.serving.batch import DecodeBatch
from twin.serving.kv_cache import KvCache, blocks_for
from twin.serving.request import Request, TraceRequest


def members(seed: int, n: int):
    rng = random.Random(seed)
    out = [Request(TraceRequest(i, 0.0, rng.randint(1, 300), rng.randint(2, 200))) for i in range(n)]
    for r in out:
        r.gen = 1  # each has its first token, from its prefill
    return out


def test_kv_need_and_longest_run_match_a_recount_of_every_request():
    bs = 16
    for seed in range(20):
        kv = KvCache(5_000, bs, 1.0)
        reqs = members(seed, 37)
        tokens = {}
        for r in reqs:
            kv.grow(r.id, r.context - 1)
            kv.follow(r.id, r.context - 1)
            tokens[r.id] = r.context - 1
        kv.advance(seed)  # start at some phase
        tokens = {k: v + seed for k, v in tokens.items()}
        for k in (0, 1, 5, 15, 16, 17, 40):
            brute = sum(blocks_for(t + k, bs) - blocks_for(t, bs) for t in tokens.values())
            assert kv.need(k) == brute
        limit = 500
        brute_steps = max(k for k in range(limit + 1)
                          if sum(blocks_for(t + k, bs) - blocks_for(t, bs) for t in tokens.values()) <= kv.free)
        assert kv.steps_free(limit) == brute_steps
        assert all(kv.held(rid) == blocks_for(t, bs) for rid, t in tokens.items())


def test_switching_block_size_keeps_what_followers_hold_at_the_old_size():
    kv = KvCache(100, 4, 2.0)
    kv.grow(1, 3)
    kv.follow(1, 3)
    kv.advance(2)  # 5 tokens: a second block at 2.0 bytes
    kv.switch(1.0)
    kv.advance(4)  # 9 tokens: a third block at 1.0 byte
    assert kv.held(1) == 3
    assert kv.release(1) == 3 and kv.free_bytes == kv.capacity_bytes


def test_batch_context_sum_finishes_and_window_edges_match_a_recount():
    window = 64
    for seed in range(10):
        batch = DecodeBatch(window)
        reqs = members(seed, 25)
        for r in reqs:
            batch.join(r)
        alive = {r.id: r for r in reqs}
        while alive:
            steps = batch.steps_to_event()
            truth = min(min(r.remaining for r in alive.values()),
                        min((window - r.context for r in alive.values() if r.context < window), default=1 << 62))
            assert steps == truth
            for r in batch.advance(steps):
                assert r.remaining == 0
                batch.leave(r)
                del alive[r.id]
            assert batch.context_sum() == sum(min(r.context, window) for r in alive.values())
            assert batch.growing == sum(r.context < window for r in alive.values())
