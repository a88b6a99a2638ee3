"""A replica's requests by state: waiting, prefilling and decoding, with counts kept as they move.

Every transition goes through one method here, so the running totals of the decode
batch and the KV cache's decode followers always describe the same requests.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from twin.serving.batch import DecodeBatch
from twin.serving.request import Request, RequestState


class ReplicaQueues:
    """Waiting in arrival order (preempted ones go back in front); running in admission order."""

    def __init__(self, window: int | None = None, kv=None, global_share: float = 0.0,
                 track: Callable[[Request], Any] | None = None):
        self.waiting: deque[Request] = deque()
        self.running: dict[int, Request] = {}  # by id, admission order: the last is preempted first
        self.prefilling: dict[int, Request] = {}
        self.batch = DecodeBatch(window, global_share)  # the decoding ones
        self.kv = kv  # a KvCache whose followers are the batch's members (None in policy unit tests)
        self.track = track  # speculation: draws the tokens a request about to decode makes at each step

    def admit(self, r: Request) -> None:
        """A waiting (or preempted) request enters the batch to be prefilled."""
        self.waiting.remove(r)
        self.running[r.id] = r
        self.prefilling[r.id] = r
        r.state = RequestState.PREFILLING

    def start_decoding(self, r: Request) -> None:
        """Prefill (or swap-in) done: the request's KV covers all but its newest token."""
        self.prefilling.pop(r.id, None)
        r.state = RequestState.DECODING
        self.batch.join(r, None if self.track is None else self.track(r))
        if self.kv is not None:
            self.kv.follow(r.id, r.context - 1)

    def remove(self, r: Request) -> None:
        """The request leaves the running set (done or preempted); the caller frees its KV."""
        del self.running[r.id]
        if r.state is RequestState.DECODING:
            if self.kv is not None:
                self.kv.unfollow(r.id)
            self.batch.leave(r)
        else:
            self.prefilling.pop(r.id, None)
