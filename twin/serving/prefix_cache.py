"""A block-level prefix cache: the KV of prompt prefixes kept after their prefill, reused by later prompts.

Blocks are named by *chained keys*: a block's key hashes its own id together with the key
of the block before it, so a key stands for the whole prefix up to and including that
block (Mooncake's `hash_ids` already are chained; RAGPulse component ids and ids derived
from a session are not, and chaining makes a hit mean "the same tokens in the same
position"). A lookup returns the longest leading run of cached keys.

Two tiers, each an LRU over blocks of varying token counts, with capacities in tokens:
device memory (a share of the replica's KV memory, set aside from the paged KV) and,
optionally, host memory reached over PCIe. Blocks evicted from the device tier drop to the
host tier; a host hit is promoted back (its KV crosses PCIe, which the engine prices).
Pure bookkeeping, no SimPy: the replica calls `lookup` at admission and `insert` when
a prefill finishes, and the router asks `cached_prefix` for affinity.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field


def chain_keys(block_ids: tuple[int, ...]) -> tuple[int, ...]:
    """Chained keys of a prompt's blocks: key i stands for blocks 0..i (int tuple hashes are deterministic)."""
    keys, prev = [], 0
    for block in block_ids:
        prev = hash((prev, block))
        keys.append(prev)
    return tuple(keys)


@dataclass
class CacheCounters:
    """What the cache did: lookups, blocks and tokens hit (by tier) and missed, insertions, evictions."""

    lookups: int = 0
    hit_blocks: int = 0
    host_hit_blocks: int = 0  # of hit_blocks, those found in the host tier
    miss_blocks: int = 0
    hit_tokens: int = 0
    host_hit_tokens: int = 0
    lookup_tokens: int = 0  # prompt tokens of the looked-up requests
    inserted_blocks: int = 0
    evictions: int = 0  # blocks dropped from the device tier (to the host tier if there is one)
    host_evictions: int = 0  # blocks dropped from the host tier

    def add(self, other: "CacheCounters") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class Hit:
    """The leading cached run of one prompt: blocks and tokens on the device tier, then on the host tier."""

    device_blocks: int = 0
    device_tokens: int = 0
    host_blocks: int = 0
    host_tokens: int = 0

    @property
    def blocks(self) -> int:
        return self.device_blocks + self.host_blocks

    @property
    def tokens(self) -> int:
        return self.device_tokens + self.host_tokens


class LruTier:
    """Blocks (key -> tokens) in least-recently-used order, at most `capacity_tokens` tokens.

    Blocks in `pinned` (a hit whose request has not finished its prefill) are not evicted, as
    a paged cache keeps blocks with live references; when only pinned blocks are left, the
    block being added is the one dropped, so the tier never exceeds its capacity.
    """

    def __init__(self, capacity_tokens: float, pinned: dict[int, int] | None = None):
        self.capacity_tokens = capacity_tokens
        self.used_tokens = 0
        self.blocks: OrderedDict[int, int] = OrderedDict()
        self.pinned = pinned if pinned is not None else {}

    def __contains__(self, key: int) -> bool:
        return key in self.blocks

    def touch(self, key: int) -> None:
        self.blocks.move_to_end(key)

    def put(self, key: int, tokens: int) -> list[tuple[int, int]]:
        """Add (or refresh) a block; return the blocks evicted to make room, oldest first."""
        if key in self.blocks:
            self.blocks.move_to_end(key)
            return []
        if tokens > self.capacity_tokens:
            return [(key, tokens)]  # never fits: passes straight through
        self.blocks[key] = tokens
        self.used_tokens += tokens
        evicted = []
        while self.used_tokens > self.capacity_tokens:
            old = next((k for k in self.blocks if k not in self.pinned), key)  # the oldest unpinned
            size = self.blocks.pop(old)
            self.used_tokens -= size
            evicted.append((old, size))
        return evicted

    def pop(self, key: int) -> int:
        size = self.blocks.pop(key)
        self.used_tokens -= size
        return size


@dataclass
class PrefixCache:
    """One replica's two-tier prefix cache. Capacities in tokens; math.inf for an unbounded tier."""

    device_tokens: float
    host_tokens: float = 0.0
    counters: CacheCounters = field(default_factory=CacheCounters)

    def __post_init__(self) -> None:
        self.pinned: dict[int, int] = {}  # key -> requests holding it until their prefill ends
        self.device = LruTier(self.device_tokens, self.pinned)
        self.host = LruTier(self.host_tokens, self.pinned)

    def pin(self, keys: tuple[int, ...]) -> None:
        for key in keys:
            self.pinned[key] = self.pinned.get(key, 0) + 1

    def unpin(self, keys: tuple[int, ...]) -> None:
        for key in keys:
            left = self.pinned[key] - 1
            if left:
                self.pinned[key] = left
            else:
                del self.pinned[key]

    def cached_prefix(self, keys: tuple[int, ...], sizes: tuple[int, ...]) -> int:
        """Tokens of the longest cached leading run (either tier), without touching LRU order."""
        tokens = 0
        for key, size in zip(keys, sizes):
            if key not in self.device and key not in self.host:
                break
            tokens += size
        return tokens

    def lookup(self, keys: tuple[int, ...], sizes: tuple[int, ...], prompt_tokens: int) -> Hit:
        """The leading run of cached blocks of a prompt, counted; device hits first, then host hits
        (a device block after a host block counts as a host-tier hit: the run is read in order)."""
        c = self.counters
        c.lookups += 1
        c.lookup_tokens += prompt_tokens
        dev_b = dev_t = host_b = host_t = 0
        for key, size in zip(keys, sizes):
            if key in self.device and host_b == 0:
                self.device.touch(key)
                dev_b, dev_t = dev_b + 1, dev_t + size
            elif key in self.host or key in self.device:
                host_b, host_t = host_b + 1, host_t + size
            else:
                break
        dev_t, host_t = _cap(dev_t, host_t, prompt_tokens)
        c.hit_blocks += dev_b + host_b
        c.host_hit_blocks += host_b
        c.miss_blocks += len(keys) - dev_b - host_b
        c.hit_tokens += dev_t + host_t
        c.host_hit_tokens += host_t
        return Hit(dev_b, dev_t, host_b, host_t)

    def insert(self, keys: tuple[int, ...], sizes: tuple[int, ...]) -> None:
        """After a prefill: every block of the prompt is on the device tier, most recently used."""
        for key, size in zip(keys, sizes):
            if key in self.host:
                self.host.pop(key)  # promoted
            elif key not in self.device:
                self.counters.inserted_blocks += 1
            for old, old_size in self.device.put(key, size):
                self.counters.evictions += 1
                self._demote(old, old_size)

    def _demote(self, key: int, size: int) -> None:
        if self.host.capacity_tokens <= 0:
            return
        self.counters.host_evictions += len(self.host.put(key, size))


def _cap(device_tokens: int, host_tokens: int, prompt_tokens: int) -> tuple[int, int]:
    """Hit tokens never exceed the prompt (a last partial block may be sized as a whole one)."""
    device = min(device_tokens, prompt_tokens)
    return device, min(host_tokens, prompt_tokens - device)


def unbounded() -> PrefixCache:
    return PrefixCache(math.inf, 0.0)
