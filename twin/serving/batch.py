"""A replica's decoding requests as running totals, so a decode run costs O(1) per event.

Every decode step advances every decoding request by one token, so the batch keeps
one step counter (`tick`) and each member remembers the tick at which it joined: its
generated tokens are `gen + tick - t0` without touching it. The batch keeps the sum
of the members' contexts (contexts grow together, so the sum is a base plus `growing`
per tick), a heap of the ticks at which members finish, and a heap of the ticks at
which a context reaches the model's sliding window (after which it stops growing in
attention). A decode run then needs only the heads of the heaps, and the work of
advancing it is proportional to the completions and window edges it crosses.

A model mixing local and global layers (Gemma) attends, per layer on average, the
capped context on its local share of layers and the whole context on its global share
(`global_share`): the batch then also keeps the uncapped sum, and mixes the two.
"""

from __future__ import annotations

import heapq
import math
import itertools
from typing import Any

from twin.serving.request import Request


class DecodeBatch:
    def __init__(self, window: int | None = None, global_share: float = 0.0):
        self.window = window  # sliding-window length in tokens, None for full attention
        self.global_share = global_share  # share of layers attending the whole context (0: all local)
        self._full_base = 0.0  # with global layers: sum over all members of (context - rate * tick)
        self._full_slope = 0.0
        self._full_parts: dict[int, float] = {}
        self.tick = 0  # decode steps this batch has taken
        self.members: dict[int, Request] = {}  # by request id, in the order they joined
        self.n = 0  # how many (read at every plan and step)
        self.growing = 0  # members whose attended context still grows (below the window)
        self._slope = 0.0  # how fast the growing members' contexts grow together, tokens per tick
        self.capped = 0  # members attending exactly `window` tokens
        self._base = 0.0  # sum over growing members of (context - tick)
        self._finish: list[tuple[int, int, Request]] = []  # (tick it finishes, serial, request)
        self._edge: list[tuple[int, int, Request]] = []  # (tick its context reaches the window, ...)
        self._serial = itertools.count(1)
        # Speculating members only (twin.serving.features.Speculation): each one's track, the cumulative
        # tokens after each step of its membership, and its mean tokens per step. A member without a track
        # makes one token per step.
        self.tracks: dict[int, Any] = {}
        self.rates: dict[int, float] = {}

    @property
    def slope(self) -> float:
        """How fast the attended context sum grows, tokens per tick."""
        if self.global_share:
            return (1.0 - self.global_share) * self._slope + self.global_share * self._full_slope
        return self._slope

    def context_sum(self) -> float:
        """Attended context summed over the members (each capped at the window; with global layers, the
        mean over the layers of the capped and the whole context)."""
        local = self._base + self._slope * self.tick + self.capped * (self.window or 0)
        if self.global_share:
            full = self._full_base + self._full_slope * self.tick
            return (1.0 - self.global_share) * local + self.global_share * full
        return local

    def join(self, r: Request, track: Any = None) -> None:
        """`r` starts decoding: from now each tick is one more token for it (or, speculating, the
        tokens of its `track`; its attended context then grows by its mean rate per tick)."""
        c, rate = r.context, 1.0
        if track is None:
            steps = r.remaining
        else:
            steps = len(track)
            rate = self.rates[r.id] = r.remaining / steps
            self.tracks[r.id] = track
        r.batch, r.t0, r.serial = self, self.tick, next(self._serial)
        self.members[r.id] = r
        self.n += 1
        heapq.heappush(self._finish, (self.tick + steps, r.serial, r))
        if self.global_share:
            self._full_join(r, c, rate)
        r.capped = self.window is not None and c >= self.window
        if r.capped:
            self.capped += 1
            return
        self.growing += 1
        self._slope += rate
        r.base_part = c - rate * self.tick
        self._base += r.base_part
        if self.window is not None:
            heapq.heappush(self._edge, (self.tick + math.ceil((self.window - c) / rate), r.serial, r))

    def leave(self, r: Request) -> None:
        """`r` stops decoding (finished or preempted); its token count is fixed from now."""
        if r.capped:
            self.capped -= 1
        else:
            self._grow_stop(r)
        if self.global_share:
            self._full_slope -= self.rate_of(r)
            self._full_base -= self._full_parts.pop(r.id)
        r.gen, r.batch, r.serial = r.generated, None, 0
        if self.tracks:
            self.tracks.pop(r.id, None)
            self.rates.pop(r.id, None)
        del self.members[r.id]
        self.n -= 1

    def steps_to_event(self) -> int:
        """Decode steps until a member finishes or reaches the window (the batch must change)."""
        steps = self._head(self._finish) - self.tick
        if self._edge:
            steps = min(steps, self._head(self._edge) - self.tick)
        return steps

    def advance(self, steps: int) -> list[Request]:
        """Take `steps` decode steps; returns the members that finished at the last one."""
        self.tick += steps
        while self._edge and self._head(self._edge) <= self.tick:
            r = heapq.heappop(self._edge)[2]  # its context reached the window: it attends `window` from now
            self._grow_stop(r)
            r.capped = True
            self.capped += 1
        done = []
        while self._finish and self._head(self._finish) <= self.tick:
            done.append(heapq.heappop(self._finish)[2])
        return done

    def rate_of(self, r: Request) -> float:
        """Member `r`'s mean tokens per step."""
        return self.rates.get(r.id, 1.0) if self.rates else 1.0

    def tokens_of(self, r: Request) -> int:
        """Tokens member `r` has made since it joined."""
        k = self.tick - r.t0
        track = self.tracks.get(r.id)
        if track is None:
            return k
        return int(track[k - 1]) if k else 0

    def _grow_stop(self, r: Request) -> None:
        self.growing -= 1
        self._slope -= self.rate_of(r)
        self._base -= r.base_part

    def _full_join(self, r: Request, context: int, rate: float) -> None:
        part = context - rate * self.tick
        self._full_parts[r.id] = part
        self._full_base += part
        self._full_slope += rate

    def _head(self, heap: list[tuple[int, int, Request]]) -> int:
        """The earliest live entry's tick (entries of members that left are dropped here)."""
        while heap and heap[0][2].serial != heap[0][1]:
            heapq.heappop(heap)
        return heap[0][0] if heap else 1 << 62
