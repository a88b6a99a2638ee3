"""A replica's serving architecture as features it holds: prefix caching, speculation, disaggregation and
KV-policy switching.

A replica (`twin.serving.engine.Replica`) is built with the features its pool's options ask for and calls
them at a few moments of its engine loop and of a request's life; a plain colocated replica holds only the
policy log and calls nothing on the hot path. Each feature keeps its own per-request state (by request
id), so `Request` carries only what every replica needs. The hooks, no-ops here; a feature overrides
those it needs and the replica calls only the overridden ones (`hooks`):

- `arrive(r)`: a request joined the replica's waiting queue;
- `boundary()`: the engine is about to plan its next step;
- `before_step(d) -> float`: seconds of transfers the planned prefill step `d` waits for;
- `step_started(d, start, shape)`: a step starts computing at `start`;
- `prefilled(r) -> bool`: a prefill produced the request's next token; True if the request leaves;
- `preempted(r)`: the request lost its KV (swapped out or to be recomputed);
- `completed(r)`: the request finished on this replica;
- `cost_changed(cost)`: steps are priced by a new cost model from now on (a policy switch).

- Prefix cache: a prompt is looked up when it reaches the replica; its cached leading tokens count as
  already prefilled (the prefill computes only the rest, while its attention still reads the cached KV),
  and a host-tier hit first loads its KV over PCIe. When the prefill completes, the prompt's blocks
  enter the cache.
- Speculation: a request about to decode draws its tokens per step (its *track*, held by the decode
  batch); every decode step is K draft steps plus one verify step of K+1 query tokens per sequence. The
  batch's attended context grows by each member's mean tokens per step, so step times stay closed-form
  between batch changes; token counts follow the tracks exactly.
- Disaggregation: a prefill replica hands a prefilled request to its pool (which moves the KV and picks
  a decode replica); a decode replica takes requests whose KV has arrived at its next step boundary, and
  admits transfers only when its KV has room.
- KV policy: every change of the KV scheme (an adaptive rule, or SetPolicy on a live twin) is logged
  with its time, the tokens written before it and its cause (twin.kv_report reads the log).
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any

from twin.quant.schemes import QuantPolicy, kv_scheme
from twin.serving.closed_form import StepTimes, steps_within
from twin.serving.cost import CostModel, StepShape
from twin.serving.prefix_cache import PrefixCache, chain_keys
from twin.serving.request import Request, RequestState
from twin.serving.speculative import Acceptance, DraftCost, SpeculativeConfig, verify_shape
from twin.serving.stats import mean_work, work_of
from twin.units import GB

HOOKS = ("arrive", "boundary", "before_step", "step_started", "prefilled", "preempted", "completed",
         "cost_changed")


class Feature:
    """A part of one replica's serving architecture; `bind` is called once, by the replica being built."""

    rep: Any = None
    reads_queue = False  # whether a hook reads the waiting queue's length (every arrival must then wake)

    def bind(self, rep) -> None:
        self.rep = rep

    def arrive(self, r: Request) -> None:
        pass

    def boundary(self) -> None:
        pass

    def before_step(self, d) -> float:
        return 0.0

    def step_started(self, d, start: float, shape: StepShape) -> None:
        pass

    def prefilled(self, r: Request) -> bool:
        return False

    def preempted(self, r: Request) -> None:
        pass

    def completed(self, r: Request) -> None:
        pass

    def cost_changed(self, cost: CostModel) -> None:
        pass


def hooks(features, name: str) -> tuple:
    """The bound `name` hooks of the features that override it, in the features' order."""
    base = getattr(Feature, name)
    return tuple(getattr(f, name) for f in features if getattr(type(f), name) is not base)


# ---- prefix cache --------------------------------------------------------------------
class KeyChains:
    """Chained prefix-block keys of requests being routed, hashed once however many replicas are asked;
    a replica's cache takes a request's keys when the request arrives there."""

    def __init__(self) -> None:
        self.routing: dict[int, tuple[int, ...]] = {}

    def peek(self, r: Request) -> tuple[int, ...]:
        keys = self.routing.get(r.id)
        if keys is None:
            keys = self.routing[r.id] = chain_keys(r.spec.block_ids)
        return keys

    def forget(self, r: Request) -> None:
        self.routing.pop(r.id, None)

    def take(self, r: Request) -> tuple[int, ...]:
        keys = self.routing.pop(r.id, None)
        return chain_keys(r.spec.block_ids) if keys is None else keys


class PrefixHit:
    """What the cache holds for one request, from its arrival until its prefill's blocks enter the cache."""

    __slots__ = ("keys", "cached", "host", "blocks")

    def __init__(self, keys: tuple[int, ...], cached: int, host: int, blocks: int):
        self.keys = keys
        self.cached = cached  # prompt tokens found cached (the prefill skips them)
        self.host = host  # of those, tokens whose KV must first cross PCIe from the host tier
        self.blocks = blocks  # cached blocks pinned for the request until its prefill ends


class PrefixCaching(Feature):
    def __init__(self, cache: PrefixCache, keys: KeyChains):
        self.cache, self.keys = cache, keys
        self.hits: dict[int, PrefixHit] = {}

    def cached_prefix(self, r: Request) -> int:
        """Prompt tokens this replica's cache holds for a request (for prefix-affinity routing)."""
        if not r.spec.block_ids:
            return 0
        return self.cache.cached_prefix(self.keys.peek(r), r.spec.block_sizes)

    def arrive(self, r: Request) -> None:
        if not r.spec.block_ids:
            return
        keys = self.keys.take(r)
        hit = self.cache.lookup(keys, r.spec.block_sizes, r.spec.input_tokens)
        cached = min(hit.tokens, r.spec.input_tokens - 1)  # the last prompt token is always computed
        self.hits[r.id] = PrefixHit(keys, cached, min(hit.host_tokens, cached), hit.blocks)
        r.prefilled = cached
        self.cache.pin(keys[:hit.blocks])  # what it will read must still be there at admission
        self.rep.stats.prefix_saved_tokens += cached

    def before_step(self, d) -> float:
        """PCIe time to bring host-tier prefix KV onto the chips for requests admitted this step."""
        rep, load = self.rep, 0.0
        for r, _ in d.prefill:
            hit = self.hits.get(r.id)
            if hit is not None and hit.host and r.state is RequestState.QUEUED:
                load += rep.pcie_s(hit.host * rep.cost.model.layers * rep.cost.kv_token_layer_bytes)  # not a swap
                hit.host = 0
        return load

    def preempted(self, r: Request) -> None:
        """The request no longer needs its hit blocks (it is recomputed from scratch, or was decoding)."""
        hit = self.hits.get(r.id)
        if hit is not None and hit.blocks:
            self.cache.unpin(hit.keys[:hit.blocks])
            hit.blocks = 0

    def prefilled(self, r: Request) -> bool:
        if r.spec.block_ids:
            self.preempted(r)
            hit = self.hits.pop(r.id, None)
            self.cache.insert(chain_keys(r.spec.block_ids) if hit is None else hit.keys, r.spec.block_sizes)
        return False


# ---- speculative decoding ------------------------------------------------------------
class SumTimes:
    """Step times that are a sum of closed-form parts (verify + K drafts): totals add up."""

    def __init__(self, parts: list[StepTimes]):
        self.parts = parts

    def total(self, steps: int) -> float:
        return sum(p.total(steps) for p in self.parts)

    def steps_within(self, elapsed: float, limit: int) -> int:
        return steps_within(self.total, elapsed, limit)


class Speculation(Feature):
    """Speculative decoding on one replica: the acceptance draws and the draft's costs."""

    def __init__(self, acceptance: Acceptance, drafts: DraftCost):
        self.acceptance, self.drafts = acceptance, drafts

    def track(self, r: Request):
        """The tokens a request about to decode makes after each of its steps (cumulative)."""
        return self.acceptance.steps(r.id, r.remaining)

    def cost_changed(self, cost: CostModel) -> None:
        self.drafts = self.drafts.follow(cost)

    def shape(self, shape: StepShape) -> StepShape:
        """A step's shape with its decodes turned into verify passes."""
        if shape.decode_seqs == 0:
            return shape
        v = verify_shape(StepShape(decode_seqs=shape.decode_seqs, decode_context=shape.decode_context), self.drafts.k)
        return StepShape(v.decode_seqs, v.decode_context, v.prefill_tokens + shape.prefill_tokens,
                         v.prefill_pairs + shape.prefill_pairs, shape.prefill_past, shape.outputs + v.outputs
                         - shape.decode_seqs)

    def draft_time(self, shape: StepShape) -> float:
        """The draft's part of a step: K draft decodes of the batch and the prefill of new prompts."""
        decode = StepShape(decode_seqs=shape.decode_seqs, decode_context=shape.decode_context)
        t = self.drafts.drafts_time(decode) + self.drafts.prefill_time(shape)
        self.rep.stats.draft_s += t
        return t

    def run_times(self, s0: StepShape, s1: StepShape) -> SumTimes:
        """Closed-form times of the next decode steps: verify, then the K drafts."""
        rep, k, n = self.rep, self.drafts.k, s0.decode_seqs
        parts = [rep.step_times(self.shape(s0), self.shape(s1))]
        for j in range(k):  # the j-th draft step sees j more tokens per sequence
            a = StepShape(decode_seqs=n, decode_context=s0.decode_context + j * n, outputs=n)
            b = StepShape(decode_seqs=n, decode_context=s1.decode_context + j * n, outputs=n)
            parts.append(rep.step_times(a, b, self.drafts.draft or rep.cost, self.drafts.draft_layers()))
        return SumTimes(parts)

    def account_run(self, first: StepShape, growing: float, steps: int, elapsed: float, times: SumTimes) -> None:
        """Like the replica's `account_run`, for verify steps (their layer costs at both ends of the run)."""
        rep = self.rep
        last = first._replace(decode_context=first.decode_context + growing * (steps - 1))
        a, b = (work_of(rep.costs.layer(self.shape(s))) for s in (first, last))
        rep.stats.decode_busy_s += elapsed
        rep.count_work(mean_work(a, b), steps, elapsed)
        rep.stats.draft_s += sum(p.total(steps) for p in times.parts[1:])

    def decoded_tokens(self, batch, steps: int) -> int:
        """Tokens the batch makes in its next `steps` steps, as its members' tracks say."""
        return sum(_track_tokens(batch.tracks[r.id], batch.tick - r.t0, steps) for r in batch.members.values())


def _track_tokens(track, done: int, steps: int) -> int:
    """Tokens a member's track makes in `steps` steps after the `done` it has taken."""
    end = min(done + steps, len(track))
    return int(track[end - 1]) - (int(track[done - 1]) if done else 0) if end > done else 0


# ---- disaggregation ------------------------------------------------------------------
class PrefillSide(Feature):
    """A prefill replica of a disaggregated deployment: its prefilled requests leave for the decode pool."""

    def __init__(self, pool):
        self.pool = pool

    def step_started(self, d, start: float, shape: StepShape) -> None:
        """The requests the step completes go to the pool (their KV moves layer by layer as it computes)."""
        for r, take in d.prefill:
            if not r.swapped and r.prefilled + take >= r.prefill_target and r.generated + 1 < r.spec.output_tokens:
                self.pool.hand_off(self, r, start, shape)

    def prefilled(self, r: Request) -> bool:
        """The request leaves (its KV stays here until it has moved)."""
        if r.remaining == 0:
            return False
        self.rep.q.remove(r)
        r.state = RequestState.TRANSFERRING
        self.pool.prefilled(r)
        return True

    def transferred_out(self, r: Request) -> None:
        """The request's KV has left: its blocks are free for the next admission."""
        self.rep.release(r)


class DecodeSide(Feature):
    """A decode replica of a disaggregated deployment: requests join its batch when their KV has arrived."""

    def __init__(self, pool):
        self.pool = pool
        self.arrived: deque[Request] = deque()  # KV transferred in, joining at the next step boundary
        self.incoming = 0  # transfers reserved here and still in flight (they hold KV and a batch slot)

    def _kv_tokens(self, r: Request) -> int:
        rep = self.rep
        return rep.scheduler.kv_target(r) if rep.spec is not None else r.spec.input_tokens

    def room_for(self, r: Request) -> bool:
        """Whether the replica can take a request's KV now (as admission would: capacity and headroom)."""
        rep = self.rep
        running = len(rep.q.running) + self.incoming
        need = rep.kv.extra_for(r.id, self._kv_tokens(r))
        return running < rep.config.max_batch and rep.scheduler.fits(need, running, rep.kv.free)

    def reserve_incoming(self, r: Request) -> None:
        self.incoming += 1
        self.rep.expect(r, self._kv_tokens(r))

    def deliver(self, r: Request) -> None:
        """The request's KV has arrived: it joins the batch at the next step boundary."""
        self.arrived.append(r)
        self.rep.poke()

    def boundary(self) -> None:
        while self.arrived:
            self.incoming -= 1
            self.rep.join_decoding(self.arrived.popleft())

    def completed(self, r: Request) -> None:
        self.pool.room(self)


# ---- KV policy ----------------------------------------------------------------------
class PolicyLog(Feature):
    """The KV scheme in force from the start, the base one adaptive rules fall back to, and every switch:
    (time, from, to, tokens written before it, cause)."""

    def __init__(self, policy: QuantPolicy):
        self.first = self.base = policy
        self.switches: list[tuple[float, QuantPolicy, QuantPolicy, int, str]] = []

    def note(self, old: QuantPolicy, new: QuantPolicy, cause: str) -> None:
        rep = self.rep
        self.switches.append((rep.env.now, old, new, rep.stats.prefill_tokens + rep.stats.decode_tokens, cause))
        rep.recorder.sample(rep.env.now, f"replica{rep.index}/kv_bits_per_elem",
                            new.kv_mean(lambda s: s.bits_per_elem(rep.cost.model.kv_dim)))

    def set_base(self, policy: QuantPolicy, cost: CostModel) -> None:
        """SetPolicy on a live twin: steps from now on are priced by `cost`, and rules fall back to `policy`."""
        rep = self.rep
        if rep.cost.policy != policy:
            self.note(rep.cost.policy, policy, "SetPolicy")
        rep.use_cost(cost)
        self.base = policy


class AdaptivePolicy(PolicyLog):
    """Adaptive KV rules (twin.quant.policy.SwitchRule), checked at every step boundary: new tokens use the
    first matching rule's scheme, the base one if none matches."""

    reads_queue = True

    def __init__(self, policy: QuantPolicy, rules: tuple):
        super().__init__(policy)
        self.rules = rules

    def boundary(self) -> None:
        rep = self.rep
        metrics = {"kv_occupancy": rep.kv.occupancy, "queue_length": len(rep.q.waiting)}
        rule = next((r for r in self.rules if r.matches(metrics)), None)
        policy = self.base if rule is None else QuantPolicy(self.base.weights, kv_scheme(rule.kv))
        if policy == rep.cost.policy:
            return
        old = rep.cost
        rep.use_cost(CostModel(old.model, old.server, old.tp, policy, old.routing, old.pp, old.micro_batches,
                               old.ep))
        rep.kv.switch(rep.kv.block_tokens * rep.cost.model.layers * rep.cost.kv_token_layer_bytes)
        cause = "no rule matches: the base policy" if rule is None else \
            f"{rule.metric} {metrics[rule.metric]:.3g} > {rule.above:g}"
        self.note(old.policy, policy, cause)


# ---- what a pool's options give its replicas -----------------------------------------
def pool_serving(serving, role: str):
    """The serving options one pool uses: prefixes are cached where prompts are prefilled, speculation
    runs where tokens are decoded."""
    if role == "prefill":
        return replace(serving, speculative=0, draft_model=None, draft_skip=None)
    if role == "decode":
        return replace(serving, prefix_cache="none", router="round-robin")
    return serving


def features_for(role: str, plan, serving, cost: CostModel, draft_model=None, *, pool=None,
                 keys: KeyChains | None = None, rules: tuple = ()) -> list[Feature]:
    """The features one replica of a pool holds, as its options say (`cost` is the pool's cost model)."""
    out: list[Feature] = [AdaptivePolicy(cost.policy, rules) if rules else PolicyLog(cost.policy)]
    if serving.prefix_cache != "none":
        token_bytes = cost.model.layers * cost.kv_token_layer_bytes
        cache = PrefixCache(plan.prefix_cache_tokens, serving.prefix_cache_host_gb * GB / token_bytes)
        out.append(PrefixCaching(cache, keys or KeyChains()))
    if serving.speculative:
        config = SpeculativeConfig(serving.speculative, serving.acceptance, serving.acceptance_dist,
                                   serving.draft_model, serving.draft_skip, serving.seed)
        draft = None if draft_model is None else \
            CostModel(draft_model, cost.server, cost.tp, cost.policy, cost.routing)
        out.append(Speculation(Acceptance(config), DraftCost(cost, draft, serving.draft_skip, config.k)))
    if role != "both":
        out.append(pool.side(role))  # the deployment's Disaggregation (twin.serving.pools)
    return out
