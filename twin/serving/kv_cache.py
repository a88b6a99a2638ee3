"""Paged KV-cache accounting for one replica: fixed-size blocks of tokens, allocated on demand.

Pure bookkeeping (no SimPy): the scheduler asks it whether a request fits and the
engine grows and frees allocations. Capacity is in bytes: a block costs what the KV
scheme in force when it was allocated says, so a policy that switches the scheme for
newly written tokens changes how many more blocks fit, not what is already stored.

Decoding requests are *followed*: each writes one token per decode step, so a request
needs a new block every `block_tokens` steps, at a phase fixed by its position in its
block. The cache keeps how many followers sit at each phase, so the blocks a decode run
of k steps needs, and the longest run the free blocks allow, cost O(block_tokens)
whatever the batch size; a follower's own count is worked out only when asked.
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
        self.free = capacity_blocks  # blocks the free bytes make at today's block size (kept: read at every plan)
        self.used = 0  # blocks held
        self.peak = 0
        self.peak_bytes = 0.0
        self._held: dict[int, int] = {}  # blocks per request (for followers: when last rebased)
        self._bytes: dict[int, float] = {}
        self.tick = 0  # decode steps taken by the followers
        self._follow: dict[int, int] = {}  # follower -> its KV tokens minus `tick`
        self._phase = [0] * block_tokens  # followers needing a new block at ticks of each residue

    def _count_free(self) -> None:
        """Renew `free` after the free bytes or the block size changed."""
        self.free = int(self.free_bytes / self.block_bytes + EPS)

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
        for rid in self._follow:  # what followers allocated so far was priced at the old size
            self._rebase(rid)
        self.block_bytes = block_bytes
        self._count_free()

    def held(self, request_id: int) -> int:
        off = self._follow.get(request_id)
        return self._held.get(request_id, 0) if off is None else blocks_for(off + self.tick, self.block_tokens)

    def extra_for(self, request_id: int, tokens: int) -> int:
        """Blocks a request would need beyond what it holds to cover `tokens` tokens."""
        return max(0, blocks_for(tokens, self.block_tokens) - self.held(request_id))

    def grow(self, request_id: int, tokens: int) -> None:
        """Grow a request that is not followed to cover `tokens` tokens."""
        blocks = blocks_for(tokens, self.block_tokens)
        extra = blocks - self._held.get(request_id, 0)
        if extra <= 0:
            return
        if extra > self.free:
            raise CapacityExceeded(f"KV cache: {extra} more blocks needed, {self.free} free")
        self._held[request_id] = blocks
        self._bytes[request_id] = self._bytes.get(request_id, 0.0) + extra * self.block_bytes
        self._take(extra)

    def _take(self, blocks: int) -> None:
        self.used += blocks
        self.free_bytes -= blocks * self.block_bytes
        self._count_free()
        if self.used > self.peak:
            self.peak = self.used
        if self.capacity_bytes - self.free_bytes > self.peak_bytes:
            self.peak_bytes = self.capacity_bytes - self.free_bytes

    # ---- decoding requests -------------------------------------------------------------
    def follow(self, request_id: int, tokens: int) -> None:
        """From now on the request writes one more token of KV per `advance` step; it holds `tokens`."""
        if self.held(request_id) != blocks_for(tokens, self.block_tokens):
            raise ValueError(f"request {request_id} holds {self.held(request_id)} blocks, not those of {tokens} tokens")
        self._follow[request_id] = off = tokens - self.tick
        self._phase[(1 - off) % self.block_tokens] += 1  # a block fills when its tokens reach 1 mod size

    def unfollow(self, request_id: int) -> None:
        self._rebase(request_id)
        off = self._follow.pop(request_id)
        self._phase[(1 - off) % self.block_tokens] -= 1

    def _rebase(self, rid: int) -> None:
        """Record what a follower holds now at today's block size."""
        blocks = self.held(rid)
        self._bytes[rid] = self._bytes.get(rid, 0.0) + (blocks - self._held.get(rid, 0)) * self.block_bytes
        self._held[rid] = blocks

    def need(self, steps: int) -> int:
        """New blocks the followers take over the next `steps` decode steps."""
        bs, n = self.block_tokens, len(self._follow)
        full, part = divmod(steps, bs)
        if not part:
            return full * n
        start = (self.tick + 1) % bs  # the residues of ticks tick+1 .. tick+part, as at most two slices
        end = start + part
        phase = self._phase
        return full * n + sum(phase[start:end]) + (sum(phase[:end - bs]) if end > bs else 0)

    def steps_free(self, limit: int) -> int:
        """The most decode steps (at most `limit`) the free blocks allow the followers."""
        bs, n, free = self.block_tokens, len(self._follow), self.free
        if n == 0 or n * -(-limit // bs) <= free:
            return limit
        cycles, left = divmod(free, n)
        steps = cycles * bs
        for j in range(1, bs):
            left -= self._phase[(self.tick + steps + j) % bs]
            if left < 0:
                return min(limit, steps + j - 1)
        return min(limit, steps + bs - 1)

    def advance(self, steps: int) -> None:
        """The followers take `steps` decode steps, allocating the blocks they fill into."""
        extra = self.need(steps)
        if extra > self.free:
            raise CapacityExceeded(f"KV cache: {extra} more blocks needed, {self.free} free")
        self.tick += steps
        self._take(extra)

    def release(self, request_id: int) -> int:
        if request_id in self._follow:
            self.unfollow(request_id)
        blocks = self._held.pop(request_id, 0)
        self.used -= blocks
        self.free_bytes += self._bytes.pop(request_id, 0.0)
        self._count_free()
        return blocks
