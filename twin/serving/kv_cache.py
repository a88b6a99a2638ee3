"""Paged KV-cache accounting for one replica: fixed-size blocks of tokens, allocated on demand.

Pure bookkeeping (no SimPy): the scheduler asks it whether a request fits and the
engine grows and frees allocations. Capacity is in bytes: a block costs what the KV
scheme in force when it was allocated says, so a policy that switches the scheme for
newly written tokens changes how many more blocks fit, not what is already stored.
"""

from __future__ import annotations

from twin.errors import CapacityExceeded

EPS = 1e-9  # float slack when dividing bytes into blocks


def blocks_for(tokens: int, block_tokens: int) -> int:
    return -(-tokens // block_tokens)


class KvCache:
    """Blocks of `block_tokens` tokens in `capacity_blocks * block_bytes` bytes of memory."""

    def __init__(self, capacity_blocks: int, block_tokens: int, block_bytes: float):
        self.block_tokens = block_tokens
        self.block_bytes = block_bytes  # bytes of one new block summed over the replica's chips
        self.capacity_bytes = capacity_blocks * block_bytes
        self.free_bytes = self.capacity_bytes
        self.used = 0  # blocks held
        self.peak = 0
        self.peak_bytes = 0.0
        self._held: dict[int, int] = {}
        self._bytes: dict[int, float] = {}

    @property
    def free(self) -> int:
        return int(self.free_bytes / self.block_bytes + EPS)

    @property
    def capacity(self) -> int:
        """Blocks that fit: those held plus those the free bytes would make at today's block size."""
        return self.used + self.free

    @property
    def occupancy(self) -> float:
        return 1.0 - self.free_bytes / self.capacity_bytes if self.capacity_bytes else 0.0

    @property
    def peak_occupancy(self) -> float:
        return self.peak_bytes / self.capacity_bytes if self.capacity_bytes else 0.0

    def switch(self, block_bytes: float) -> None:
        """Blocks allocated from now on cost `block_bytes` (a new KV scheme for new tokens)."""
        self.block_bytes = block_bytes

    def held(self, request_id: int) -> int:
        return self._held.get(request_id, 0)

    def extra_for(self, request_id: int, tokens: int) -> int:
        """Blocks a request would need beyond what it holds to cover `tokens` tokens."""
        return max(0, blocks_for(tokens, self.block_tokens) - self.held(request_id))

    def grow(self, request_id: int, tokens: int) -> None:
        self.grow_many([(request_id, tokens)])

    def grow_many(self, wanted: list[tuple[int, int]]) -> None:
        """Grow every request to cover its token count (the hot path of a decode run)."""
        held, sizes, bs, size = self._held, self._bytes, self.block_tokens, self.block_bytes
        extra = 0
        for rid, tokens in wanted:
            blocks = -(-tokens // bs)
            have = held.get(rid, 0)
            if blocks > have:
                held[rid] = blocks
                sizes[rid] = sizes.get(rid, 0.0) + (blocks - have) * size
                extra += blocks - have
        if extra > self.free:
            raise CapacityExceeded(f"KV cache: {extra} more blocks needed, {self.free} free")
        self._take(extra)

    def _take(self, blocks: int) -> None:
        self.used += blocks
        self.free_bytes -= blocks * self.block_bytes
        self.peak = max(self.peak, self.used)
        self.peak_bytes = max(self.peak_bytes, self.capacity_bytes - self.free_bytes)

    def release(self, request_id: int) -> int:
        blocks = self._held.pop(request_id, 0)
        self.used -= blocks
        self.free_bytes += self._bytes.pop(request_id, 0.0)
        return blocks
