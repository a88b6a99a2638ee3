"""Per-replica batch scheduling policies. They return decisions as data and never touch SimPy.

- prefill-first: at every step boundary, waiting requests that fit are prefilled
  (decodes pause for that step), as vLLM's default scheduler does.
- decode-first: waiting requests are admitted only when nothing is decoding, so a
  batch runs to completion before the next one starts (request-level batching).
- chunked: every step carries all decodes plus up to `chunk_tokens` of prompt
  chunks (Sarathi-Serve), so long prompts never stall the decodes.
"""

from __future__ import annotations

import abc

from twin.config import ServingConfig
from twin.serving.kv_cache import KvCache
from twin.serving.queues import ReplicaQueues
from twin.serving.request import Request, RequestState

WATERMARK = 0.01  # share of KV blocks kept free at admission, so running requests can grow
# Admission also keeps room for every running request to decode this many more tokens.
# Without it a preempted request is readmitted into the space it just freed and is
# preempted again at the next step: a recompute loop that makes no progress.
LOOKAHEAD_TOKENS = 128


class Decision:
    """What the engine must do at this step boundary (a plain class: one is made at every boundary)."""

    __slots__ = ("preempt", "prefill", "decode")

    def __init__(self) -> None:
        self.preempt: list[Request] = []
        self.prefill: list[tuple[Request, int]] = []  # (request, prompt tokens this step)
        self.decode = 0  # decoding sequences this step carries: all of the batch's after preemption, or none

    @property
    def idle(self) -> bool:
        return not (self.prefill or self.decode)


class Scheduler(abc.ABC):
    splits_prompts = False  # whether a step may carry a piece of a prompt when others fit whole

    def __init__(self, config: ServingConfig, kv: KvCache, prefill_budget: int):
        self.config, self.kv = config, kv
        self.prefill_budget = prefill_budget  # prompt tokens one prefill step may take
        self.reserve = max(1, int(kv.capacity * WATERMARK))
        self.lookahead = -(-LOOKAHEAD_TOKENS // kv.block_tokens)  # blocks

    def plan(self, q: ReplicaQueues) -> Decision:
        d, decoding = Decision(), q.batch.n  # sequences decoding
        if decoding > self.kv.free:  # one step writes one token: at most one new block each
            d.preempt = self._preempt_for_growth(q)
            decoding -= sum(v.state is RequestState.DECODING for v in d.preempt)
        self.fill(q, d, decoding)
        return d

    @abc.abstractmethod
    def fill(self, q: ReplicaQueues, d: Decision, decoding: int) -> None:
        """Choose this step's prefills and whether the `decoding` sequences decode."""

    def _preempt_for_growth(self, q: ReplicaQueues) -> list[Request]:
        """Victims, newest first, until every decode can write its next token's KV."""
        victims: list[Request] = []
        need = self.kv.need(1)
        candidates = reversed(q.running.values())
        while need > self.free_after(victims):
            v = next(candidates, None)
            if v is None:
                break
            victims.append(v)
            if v.state is RequestState.DECODING:
                need -= self.kv.extra_for(v.id, v.context)
        return victims

    def kv_target(self, r: Request) -> int:
        """Tokens of KV a request takes at admission: its prompt, or with speculative decoding (whose
        steps write a varying number of tokens) its whole context up front."""
        return r.spec.input_tokens + r.spec.output_tokens if self.config.speculative else r.prefill_target

    def free_after(self, victims: list[Request]) -> int:
        """Free KV blocks once `victims` are preempted."""
        return self.kv.free + sum(self.kv.held(v.id) for v in victims) if victims else self.kv.free

    def fits(self, need: int, running: int, free: int) -> bool:
        """Whether taking `need` of `free` blocks for one more request beside `running` ones keeps the
        watermark and room for each of them to decode LOOKAHEAD_TOKENS more tokens."""
        return need + max(self.reserve, (running + 1) * self.lookahead) <= free

    def admit(self, q: ReplicaQueues, d: Decision, budget: int, slots: int) -> None:
        """Admit waiting requests FCFS while the batch, the token budget and the KV cache allow."""
        if not q.prefilling and (slots <= 0 or not q.waiting):  # nothing to continue, no one to take
            return
        free = self.free_after(d.preempt)
        running = len(q.running) - len(d.preempt)
        for r in q.prefilling.values():
            if r in d.preempt:
                continue
            take = min(r.prefill_target - r.prefilled, budget)
            if take > 0:
                d.prefill.append((r, take))
                budget -= take
        for r in q.waiting:
            if slots <= 0 or budget <= 0:
                break
            todo = r.prefill_target - r.prefilled  # a prefix-cache hit has prefilled the cached part
            take = 0 if r.swapped else min(todo, budget)  # a swapped request only swaps in
            if 0 < take < todo and d.prefill and not self.splits_prompts:
                break  # a whole prompt in a later step rather than a piece now
            # the whole prompt's blocks are taken at admission, so later chunks never wait for KV
            need = self.kv.extra_for(r.id, r.context - 1 if r.swapped else self.kv_target(r))
            if not self.fits(need, running, free):
                break
            d.prefill.append((r, take))
            free, budget, slots, running = free - need, budget - take, slots - 1, running + 1


class PrefillFirst(Scheduler):
    def fill(self, q, d, decoding):
        slots = self.config.max_batch - (len(q.running) - len(d.preempt))
        self.admit(q, d, self.prefill_budget, slots)
        if not d.prefill:
            d.decode = decoding


class DecodeFirst(Scheduler):
    def fill(self, q, d, decoding):
        if decoding:
            d.decode = decoding
            return
        self.admit(q, d, self.prefill_budget, self.config.max_batch - len(q.running) + len(d.preempt))


class Chunked(Scheduler):
    splits_prompts = True

    def fill(self, q, d, decoding):
        d.decode = decoding
        budget = self.config.chunk_tokens - decoding
        slots = self.config.max_batch - (len(q.running) - len(d.preempt))
        self.admit(q, d, budget, slots)


SCHEDULERS: dict[str, type[Scheduler]] = {
    "prefill-first": PrefillFirst,
    "decode-first": DecodeFirst,
    "chunked": Chunked,
}


def make_scheduler(config: ServingConfig, kv: KvCache, prefill_budget: int) -> Scheduler:
    return SCHEDULERS[config.policy](config, kv, prefill_budget)
