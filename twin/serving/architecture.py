"""A replica's part in the serving architectures: its prefix cache, speculative steps, and its pool role.

Mixed into the replica (`twin.serving.engine.Replica`); every hook is a no-op for a
plain colocated replica, so the engine reads the same with or without them.

- Prefix cache: a prompt is looked up when it reaches the replica; its cached leading
  tokens count as already prefilled (the prefill computes only the rest, while its
  attention still reads the cached KV), and a host-tier hit first loads its KV over
  PCIe. When the prefill completes, the prompt's blocks enter the cache.
- Speculation: a request about to decode draws its tokens per step (its *track*); every
  decode step is K draft steps plus one verify step of K+1 query tokens per sequence.
  The batch's attended context grows by each member's mean tokens per step, so step
  times stay closed-form between batch changes; token counts follow the tracks exactly.
- Disaggregation: a prefill replica hands a prefilled request to its pool (which moves
  the KV and picks a decode replica); a decode replica takes requests whose KV has
  arrived at its next step boundary, and admits transfers only when its KV has room.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any

from twin.serving.closed_form import StepTimes, steps_within
from twin.serving.cost import CostModel, StepShape
from twin.serving.prefix_cache import PrefixCache, chain_keys
from twin.serving.request import Request, RequestState
from twin.serving.stats import mean_work, work_of
from twin.serving.speculative import Acceptance, DraftCost, SpeculativeConfig, verify_shape
from twin.units import GB


class SumTimes:
    """Step times that are a sum of closed-form parts (verify + K drafts): totals add up."""

    def __init__(self, parts: list[StepTimes]):
        self.parts = parts

    def total(self, steps: int) -> float:
        return sum(p.total(steps) for p in self.parts)

    def steps_within(self, elapsed: float, limit: int) -> int:
        return steps_within(self.total, elapsed, limit)


class ArchitectureHooks:
    prefix: PrefixCache | None = None  # this replica's prefix cache, if any
    acceptance: Acceptance | None = None  # speculative decoding's acceptance draws, if speculating
    drafts: DraftCost | None = None  # and its draft's costs
    role = "both"  # both | prefill | decode
    pool: Any = None  # the Disaggregation this replica belongs to
    arrived: deque | tuple = ()  # KV transferred in, joining at the next step boundary
    incoming = 0  # transfers reserved here and still in flight (they hold KV and a batch slot)

    def init_architecture(self) -> None:
        """Called once the simulation has set this replica's cache, speculation and role."""
        self.arrived = deque()
        if self.acceptance is not None:
            self.q.kv = None  # KV is taken whole at admission (kv_target): no per-step growth to follow
            self.q.prepare = self.draw_track

    # ---- prefix cache ----------------------------------------------------------------
    def cached_prefix(self, r: Request) -> int:
        """Prompt tokens this replica's cache holds for a request (for prefix-affinity routing)."""
        if self.prefix is None or not r.spec.block_ids:
            return 0
        return self.prefix.cached_prefix(prefix_keys(r), r.spec.block_sizes)

    def prefix_lookup(self, r: Request) -> None:
        if self.prefix is None or not r.spec.block_ids:
            return
        prefix_keys(r)
        hit = self.prefix.lookup(r.keys, r.spec.block_sizes, r.spec.input_tokens)
        r.cached = min(hit.tokens, r.spec.input_tokens - 1)  # the last prompt token is always computed
        r.host_hit = min(hit.host_tokens, r.cached)
        r.prefilled = r.cached
        r.hit_blocks = hit.blocks
        self.prefix.pin(r.keys[:hit.blocks])  # what it will read must still be there at admission
        self.stats.prefix_saved_tokens += r.cached

    def prefix_release(self, r: Request) -> None:
        """The request no longer needs its hit blocks (its prefill ended, or it was preempted)."""
        if r.hit_blocks:
            self.prefix.unpin(r.keys[:r.hit_blocks])
            r.hit_blocks = 0

    def prefix_insert(self, r: Request) -> None:
        if self.prefix is not None and r.keys:
            self.prefix_release(r)
            self.prefix.insert(r.keys, r.spec.block_sizes)

    def host_hit_time(self, prefill: list[tuple[Request, int]]) -> float:
        """PCIe time to bring host-tier prefix KV onto the chips for requests admitted this step."""
        load = 0.0
        for r, _ in prefill:
            if r.host_hit and r.state is RequestState.QUEUED:
                load += self.pcie_s(r.host_hit * self.cost.model.layers * self.cost.kv_token_layer_bytes)  # not a swap
                r.host_hit = 0
        return load

    # ---- speculative decoding --------------------------------------------------------
    def draw_track(self, r: Request) -> None:
        r.track = self.acceptance.steps(r.id, r.remaining)
        r.rate = r.remaining / len(r.track)

    def spec_shape(self, shape: StepShape) -> StepShape:
        """A step's shape with its decodes turned into verify passes (unchanged without speculation)."""
        if self.acceptance is None or shape.decode_seqs == 0:
            return shape
        v = verify_shape(StepShape(decode_seqs=shape.decode_seqs, decode_context=shape.decode_context), self.drafts.k)
        return StepShape(v.decode_seqs, v.decode_context, v.prefill_tokens + shape.prefill_tokens,
                         v.prefill_pairs + shape.prefill_pairs, shape.prefill_past, shape.outputs + v.outputs
                         - shape.decode_seqs)

    def draft_time(self, shape: StepShape) -> float:
        """The draft's part of a step: K draft decodes of the batch and the prefill of new prompts."""
        if self.acceptance is None:
            return 0.0
        decode = StepShape(decode_seqs=shape.decode_seqs, decode_context=shape.decode_context)
        t = self.drafts.drafts_time(decode) + self.drafts.prefill_time(shape)
        self.stats.draft_s += t
        return t

    def run_times(self, s0: StepShape, s1: StepShape):
        """Closed-form times of the next decode steps (verify + drafts when speculating)."""
        if self.acceptance is None:
            return self.step_times(s0, s1)
        k, n = self.drafts.k, s0.decode_seqs
        parts = [self.step_times(self.spec_shape(s0), self.spec_shape(s1))]
        for j in range(k):  # the j-th draft step sees j more tokens per sequence
            a = StepShape(decode_seqs=n, decode_context=s0.decode_context + j * n, outputs=n)
            b = StepShape(decode_seqs=n, decode_context=s1.decode_context + j * n, outputs=n)
            parts.append(self.step_times(a, b, self.drafts.draft or self.cost, self.drafts.draft_layers()))
        return SumTimes(parts)

    def account_spec_run(self, first: StepShape, growing: float, steps: int, elapsed: float) -> None:
        """Like `account_run`, for verify steps (their layer costs from the cost model at both ends)."""
        last = first._replace(decode_context=first.decode_context + growing * (steps - 1))
        a, b = (work_of(self.costs.layer(self.spec_shape(s))) for s in (first, last))
        self.stats.decode_busy_s += elapsed
        self.count_work(mean_work(a, b), steps, elapsed)

    def decoded_tokens(self, steps: int) -> int:
        """Tokens the batch makes in its next `steps` steps."""
        b = self.q.batch
        if self.acceptance is None:
            return steps * b.n
        return sum(_track_tokens(r, b.tick - r.t0, steps) for r in b.members.values())

    # ---- disaggregation --------------------------------------------------------------
    def hand_off(self, d, start: float, shape: StepShape) -> None:
        """A prefill replica, as a step starts: the requests it completes go to the pool (their KV moves
        layer by layer as the step computes them)."""
        if self.role != "prefill":
            return
        for r, take in d.prefill:
            if not r.swapped and r.prefilled + take >= r.prefill_target and r.generated + 1 < r.spec.output_tokens:
                self.pool.hand_off(self, r, start, shape)

    def leave_for_decode(self, r: Request) -> bool:
        """After its prefill on a prefill replica: the request leaves (its KV stays until it has moved)."""
        if self.role != "prefill" or r.remaining == 0:
            return False
        self.q.remove(r)
        r.state = RequestState.TRANSFERRING
        self.pool.prefilled(r)
        return True

    def transferred_out(self, r: Request) -> None:
        """The request's KV has left this prefill replica: its blocks are free for the next admission."""
        self.kv.release(r.id)
        self.outstanding_tokens -= r.spec.input_tokens + r.spec.output_tokens
        self.poke()

    def room_for(self, r: Request) -> bool:
        """Whether a decode replica can take a request's KV now (as admission would: capacity and headroom)."""
        running = len(self.q.running) + self.incoming
        need = self.kv.extra_for(r.id, self.scheduler.kv_target(r) if self.acceptance else r.spec.input_tokens)
        return running < self.config.max_batch and self.scheduler.fits(need, running, self.kv.free)

    def reserve_incoming(self, r: Request) -> None:
        self.kv.grow(r.id, self.scheduler.kv_target(r) if self.acceptance else r.spec.input_tokens)
        self.incoming += 1
        self.outstanding_tokens += r.spec.input_tokens + r.spec.output_tokens

    def deliver(self, r: Request) -> None:
        """The request's KV has arrived: it joins the batch at the next step boundary."""
        self.arrived.append(r)
        self.poke()

    def join_arrived(self) -> None:
        while self.arrived:
            r = self.arrived.popleft()
            self.incoming -= 1
            r.replica = self.index
            self.q.running[r.id] = r
            self.q.start_decoding(r)


def prefix_keys(r: Request) -> tuple[int, ...]:
    """The request's chained prefix-block keys, hashed once however many replicas the router asks."""
    if not r.keys:
        r.keys = chain_keys(r.spec.block_ids)
    return r.keys


def _track_tokens(r: Request, done: int, steps: int) -> int:
    """Tokens a member's track makes in `steps` steps after the `done` it has taken."""
    track = r.track
    end = min(done + steps, len(track))
    return int(track[end - 1]) - (int(track[done - 1]) if done else 0) if end > done else 0


def pool_serving(serving, role: str):
    """The serving options one pool uses: prefixes are cached where prompts are prefilled, speculation
    runs where tokens are decoded."""
    if role == "prefill":
        return replace(serving, speculative=0, draft_model=None, draft_skip=None)
    if role == "decode":
        return replace(serving, prefix_cache="none", router="round-robin")
    return serving


def equip(rep, pool, plan, serving, model, draft_model=None) -> None:
    """Give a new replica its role, prefix cache and speculative draft, as its pool's options say."""
    rep.role = pool.role
    if serving.prefix_cache != "none":
        token_bytes = model.layers * rep.cost.kv_token_layer_bytes
        rep.prefix = PrefixCache(plan.prefix_cache_tokens, serving.prefix_cache_host_gb * GB / token_bytes)
    if serving.speculative:
        config = SpeculativeConfig(serving.speculative, serving.acceptance, serving.acceptance_dist,
                                   serving.draft_model, serving.draft_skip, serving.seed)
        draft = None if draft_model is None else \
            CostModel(draft_model, rep.cost.server, rep.cost.tp, rep.cost.policy, rep.cost.routing)
        rep.acceptance, rep.drafts = Acceptance(config), DraftCost(rep.cost, draft, serving.draft_skip, config.k)
    rep.init_architecture()
