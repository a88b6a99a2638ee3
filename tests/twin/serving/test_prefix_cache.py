"""The block-level prefix cache: longest cached prefix, LRU eviction by tokens, the host tier."""

from __future__ import annotations

import math

from twin.serving.prefix_cache import PrefixCache, chain_keys


def test_chained_keys_name_whole_prefixes():
    a, b = chain_keys((1, 2, 3)), chain_keys((9, 2, 3))
    assert a[0] != b[0] and a[1] != b[1]  # the same block after a different prefix is another key
    assert chain_keys((1, 2)) == a[:2]


def test_lookup_hits_the_leading_run_only():
    cache = PrefixCache(math.inf)
    keys = chain_keys((1, 2, 3, 4))
    cache.insert(keys[:2], (16, 16))
    hit = cache.lookup(keys, (16, 16, 16, 8), prompt_tokens=56)
    assert (hit.blocks, hit.tokens) == (2, 32)
    c = cache.counters
    assert (c.hit_blocks, c.miss_blocks, c.hit_tokens, c.lookup_tokens) == (2, 2, 32, 56)


def test_lru_evicts_least_recently_used_blocks_by_tokens():
    cache = PrefixCache(device_tokens=48)
    a, b = chain_keys((1,)), chain_keys((2,))
    cache.insert(a, (32,))
    cache.insert(b, (16,))
    cache.lookup(a, (32,), 32)  # a is now the most recent
    cache.insert(chain_keys((3,)), (16,))  # 64 > 48 tokens: b goes
    assert cache.counters.evictions == 1
    assert cache.cached_prefix(a, (32,)) == 32 and cache.cached_prefix(b, (16,)) == 0


def test_evicted_blocks_drop_to_the_host_tier_and_come_back():
    cache = PrefixCache(device_tokens=16, host_tokens=32)
    a, b = chain_keys((1,)), chain_keys((2,))
    cache.insert(a, (16,))
    cache.insert(b, (16,))  # a demoted to host
    hit = cache.lookup(a, (16,), 16)
    assert (hit.device_tokens, hit.host_tokens) == (0, 16)
    cache.insert(a, (16,))  # promoted: b demoted
    assert cache.lookup(a, (16,), 16).device_tokens == 16
    assert cache.counters.host_evictions == 0 and cache.counters.evictions == 2


def test_hit_tokens_never_exceed_the_prompt():
    cache = PrefixCache(math.inf)
    keys = chain_keys((5, 6))
    cache.insert(keys, (512, 512))
    assert cache.lookup(keys, (512, 512), prompt_tokens=700).tokens == 700


def test_a_block_larger_than_the_cache_is_not_kept():
    cache = PrefixCache(device_tokens=8)
    cache.insert(chain_keys((1,)), (16,))
    assert cache.device.used_tokens == 0 and cache.counters.evictions == 1


def test_pinned_blocks_are_not_evicted_and_the_tier_never_overflows():
    cache = PrefixCache(device_tokens=32)
    a, b, c = chain_keys((1,)), chain_keys((2,)), chain_keys((3,))
    cache.insert(a, (16,))
    cache.insert(b, (16,))
    cache.pin(a)  # a request hit `a` and has not prefilled yet
    cache.insert(c, (16,))  # b (unpinned) goes, although a is older
    assert cache.cached_prefix(a, (16,)) == 16 and cache.cached_prefix(b, (16,)) == 0
    cache.pin(c)
    cache.insert(chain_keys((4,)), (16,))  # only pinned blocks left: the newcomer is dropped
    assert cache.device.used_tokens == 32 and cache.cached_prefix(chain_keys((4,)), (16,)) == 0
    cache.unpin(a)
    cache.unpin(c)
    assert not cache.pinned
