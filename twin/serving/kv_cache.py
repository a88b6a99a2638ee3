"""Paged KV-cache accounting for one replica: fixed-size blocks of tokens, allocated on demand.

Pure bookkeeping (no SimPy): the scheduler asks it whether a request fits and the
engine grows and frees allocations. The block count never exceeds the capacity.
"""

from __future__ import annotations

from twin.errors import CapacityExceeded


def blocks_for(tokens: int, block_tokens: int) -> int:
    return -(-tokens // block_tokens)


class KvCache:
    """Blocks of `block_tokens` tokens; `capacity_blocks` of them fit in the replica's memory."""

    def __init__(self, capacity_blocks: int, block_tokens: int, block_bytes: float):
        self.capacity = capacity_blocks
        self.block_tokens = block_tokens
        self.block_bytes = block_bytes  # bytes of one block summed over the replica's chips
        self.used = 0
        self.peak = 0
        self._held: dict[int, int] = {}

    @property
    def free(self) -> int:
        return self.capacity - self.used

    @property
    def occupancy(self) -> float:
        return self.used / self.capacity if self.capacity else 0.0

    def held(self, request_id: int) -> int:
        return self._held.get(request_id, 0)

    def extra_for(self, request_id: int, tokens: int) -> int:
        """Blocks a request would need beyond what it holds to cover `tokens` tokens."""
        return max(0, blocks_for(tokens, self.block_tokens) - self.held(request_id))

    def fits(self, request_id: int, tokens: int, reserve: int = 0) -> bool:
        return self.extra_for(request_id, tokens) + reserve <= self.free

    def grow(self, request_id: int, tokens: int) -> None:
        extra = self.extra_for(request_id, tokens)
        if extra > self.free:
            raise CapacityExceeded(f"KV cache: request {request_id} needs {extra} more blocks, {self.free} free")
        self._held[request_id] = self.held(request_id) + extra
        self.used += extra
        self.peak = max(self.peak, self.used)

    def grow_many(self, wanted: list[tuple[int, int]]) -> None:
        """`grow` for many requests at once (the hot path of a decode run)."""
        held, bs = self._held, self.block_tokens
        extra = 0
        for rid, tokens in wanted:
            blocks = -(-tokens // bs)
            have = held.get(rid, 0)
            if blocks > have:
                held[rid] = blocks
                extra += blocks - have
        if extra > self.free:
            raise CapacityExceeded(f"KV cache: a decode run needs {extra} more blocks, {self.free} free")
        self.used += extra
        self.peak = max(self.peak, self.used)

    def release(self, request_id: int) -> int:
        blocks = self._held.pop(request_id, 0)
        self.used -= blocks
        return blocks
