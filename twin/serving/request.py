"""The request lifecycle: a trace row becomes a `Request` whose state moves through one enum."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TraceRequest:
    """One canonical request as read from a trace (times in seconds from the trace start)."""

    request_id: int
    arrival_s: float
    input_tokens: int
    output_tokens: int
    session_id: str | None = None
    block_ids: tuple[int, ...] = ()  # prefix blocks of the prompt, in order (twin.serving.prefix_cache)
    block_sizes: tuple[int, ...] = ()  # tokens of each block (filled at load: twin.traces.prefix)

    def __reduce__(self) -> tuple:
        # Pickled by its constructor: compiled (mypyc), a frozen dataclass cannot be restored field by field,
        # and sweep workers receive these from their parent process.
        return (TraceRequest, (self.request_id, self.arrival_s, self.input_tokens, self.output_tokens,
                               self.session_id, self.block_ids, self.block_sizes))


class RequestState(enum.Enum):
    QUEUED = "queued"
    PREFILLING = "prefilling"
    DECODING = "decoding"
    PREEMPTED = "preempted"
    TRANSFERRING = "transferring"  # prefilled; its KV is moving to a decode replica
    DONE = "done"
    REJECTED = "rejected"


class Request:
    """A request inside the simulation. Mutable: the engine advances it.

    A plain class with its constructor written out (not a dataclass): one is made per request, and
    compiled (setup.py) this constructor is native code, where a dataclass's generated one stays Python.
    No __slots__: with them mypyc would make it an ordinary Python class, without native attributes."""

    def __init__(self, spec: TraceRequest) -> None:
        self.spec = spec
        self.id: int = spec.request_id  # the trace's request id, kept here: looked up a dozen times per request
        self.state = RequestState.QUEUED
        self.replica = -1
        self.prefilled = 0  # prompt (or recompute) tokens already prefilled in this residency
        self.gen = 0  # output tokens produced before joining the current decode batch
        self.first_token_s: float | None = None
        self.finish_s: float | None = None
        self.preemptions = 0
        self.swapped = False  # KV lives in host memory (swap preemption)
        self.reason = ""  # why a request was rejected
        self.batch: Any = None  # the DecodeBatch (twin.serving.batch) this request decodes in, if any
        self.t0 = 0  # the batch's tick when this request joined it
        self.serial = 0  # which membership of a batch this is (stale heap entries carry an old one)
        self.base_part = 0.0  # this member's share of its batch's context base (twin.serving.batch)
        self.capped = False  # its attended context has reached the sliding window

    def __repr__(self) -> str:
        return f"Request(id={self.id}, state={self.state.value}, generated={self.generated})"

    @property
    def generated(self) -> int:
        """Output tokens produced so far (the first comes from prefill); decoding adds one per batch tick."""
        b = self.batch
        if b is None:
            return self.gen
        k = b.tick - self.t0
        if not b.tracks:  # nobody in the batch speculates: one token per step
            return self.gen + k
        return self.gen + b.tokens_of(self)

    @generated.setter
    def generated(self, value: int) -> None:
        if self.batch is not None:
            raise RuntimeError("a decoding request's token count follows its batch")
        self.gen = value

    @property
    def context(self) -> int:
        """Tokens whose KV is (or must be) resident: prompt plus generated tokens."""
        return self.spec.input_tokens + self.generated

    @property
    def remaining(self) -> int:
        return self.spec.output_tokens - self.generated

    @property
    def prefill_target(self) -> int:
        """Tokens a prefill must process: the prompt, plus the generated tokens after a recompute."""
        return self.spec.input_tokens + self.generated
