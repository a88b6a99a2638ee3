"""A replica's request bookkeeping: admission, preemption, step completion and records.

`Replica` (engine.py) adds the SimPy process on top; this part holds the state
transitions so that they read in one place.
"""

from __future__ import annotations

import simpy

from twin.config import ServingConfig
from twin.metrics import Recorder, RequestRecord, new_record
from twin.serving.cost import CostModel, StepShape
from twin.serving.features import HOOKS, PolicyLog, PrefixCaching, Speculation, hooks
from twin.serving.kv_cache import KvCache, blocks_for
from twin.serving.request import Request, RequestState
from twin.serving.queues import ReplicaQueues
from twin.serving.scheduler import Decision, make_scheduler
from twin.energy import unit_joules
from twin.serving.shape_cost import ShapeCosts, shape_costs
from twin.serving.stats import ReplicaStats, work_of


class Lifecycle:
    def __init__(self, env: simpy.Environment, index: int, cost: CostModel, kv: KvCache,
                 config: ServingConfig, recorder: Recorder, backend, host_memory_bytes: float, *,
                 role: str = "both", place: tuple = (), features: list | None = None):
        """`role` is the pool's (both | prefill | decode), `place` the (server group, server) it runs on, and
        `features` its serving architecture (twin.serving.features: a policy log at least)."""
        self.env, self.index, self.cost, self.kv = env, index, cost, kv
        self.role, self.place = role, place
        self.costs: ShapeCosts = shape_costs(cost)  # the cost model behind its per-shape cache (see use_cost)
        self.config, self.recorder, self.backend = config, recorder, backend
        self.features: tuple = tuple(features) if features else (PolicyLog(cost.policy),)
        self.spec: Speculation | None = next((f for f in self.features if isinstance(f, Speculation)), None)
        self.prefix: PrefixCaching | None = next((f for f in self.features if isinstance(f, PrefixCaching)), None)
        self.kv_policy: PolicyLog = next(f for f in self.features if isinstance(f, PolicyLog))
        spec = self.spec
        # speculating, KV is taken whole at admission (kv_target): no per-step growth for the cache to follow
        self.q = ReplicaQueues(cost.model.sliding_window, kv if spec is None else None,
                               cost.model.global_share, None if spec is None else spec.track)
        self.scheduler = make_scheduler(config, kv, prefill_budget=max(cost.model.max_context, config.chunk_tokens))
        self.stats = ReplicaStats()
        self.closed_form = config.fidelity == "step"
        self.wake: simpy.Event = env.event()
        self.swap_free = host_memory_bytes
        self.outstanding_tokens = 0  # prompt + output tokens not yet served, for routing
        self._next_sample = -float("inf")  # when the time series are next due a point
        self._series = tuple(f"replica{index}/{name}" for name in ("batch", "queue", "kv_occupancy"))
        # Joules per MAC, memory byte and link byte, for the peak dynamic power (twin.energy)
        self._joules = unit_joules(cost.server.chip.energy, cost.server.link.pj_per_byte)  # type: ignore[arg-type]
        for f in self.features:
            f.bind(self)
        self._arrive, self._boundary, self._before_step, self._step_started, self._prefilled, self._preempted, \
            self._completed, self._cost_changed = (hooks(self.features, name) for name in HOOKS)
        self._every_arrival = any(f.reads_queue for f in self.features)

    def use_cost(self, cost: CostModel) -> None:
        """Steps from now on are priced by `cost` (a new policy): the engine's, its shape cache, the
        backend's and a speculative draft's."""
        self.cost = self.backend.cost = cost
        self.costs = shape_costs(cost)
        for hook in self._cost_changed:
            hook(cost)

    def cached_prefix(self, r: Request) -> int:
        """Prompt tokens this replica's prefix cache holds for a request (for prefix-affinity routing)."""
        prefix = self.prefix
        return 0 if prefix is None else prefix.cached_prefix(r)

    # ---- arrivals ----------------------------------------------------------------
    def enqueue(self, r: Request) -> None:
        r.replica = self.index
        total = r.spec.input_tokens + r.spec.output_tokens
        if blocks_for(total, self.kv.block_tokens) > self.kv.capacity - self.scheduler.reserve:
            self.reject(r, f"needs {total} tokens of KV, the replica holds "
                           f"{(self.kv.capacity - self.scheduler.reserve) * self.kv.block_tokens}")
            return
        blocked = bool(self.q.waiting) and not self._every_arrival
        self.q.waiting.append(r)
        for hook in self._arrive:
            hook(r)
        self.outstanding_tokens += total
        if blocked:
            self.sample()  # the engine is not woken, but the time series still see the queue grow
        else:
            self.poke()

    def poke(self) -> None:
        """Have the engine plan again at the end of the step in flight (or now, if it is idle).

        An arrival behind other waiting requests does not poke: admission is first come, first
        served, and the requests ahead were not admitted at the last plan, so nothing changes
        until the batch does (a completion or a freed KV block, which plan again anyway). Under
        overload that spares a cut decode run per arrival. Adaptive rules read the queue length,
        so with rules every arrival pokes."""
        if not self.wake.triggered:
            self.wake.succeed()

    def interruptible(self) -> bool:
        """Whether an arrival could change the batch before the current decode run ends."""
        return self.config.policy != "decode-first" and len(self.q.running) < self.config.max_batch

    def reject(self, r: Request, reason: str) -> None:
        r.state, r.reason = RequestState.REJECTED, reason
        self.stats.rejected += 1
        self.recorder.request(_record(r))

    # ---- preemption --------------------------------------------------------------
    def preempt(self, victims: list[Request]) -> float:
        """Free the victims' KV; return the PCIe time a swap-out takes (0 for recompute)."""
        transfer = 0.0
        for v in victims:
            decoding = v.state is RequestState.DECODING
            self.q.remove(v)
            blocks = self.kv.release(v.id)
            nbytes = blocks * self.kv.block_bytes
            v.state, v.preemptions = RequestState.PREEMPTED, v.preemptions + 1
            self.stats.preemptions += 1
            if self.config.preemption == "swap" and decoding and nbytes <= self.swap_free:
                v.swapped, self.swap_free = True, self.swap_free - nbytes
                transfer += self.pcie_time(nbytes)
            else:
                v.prefilled = 0  # recompute the prompt and the tokens generated so far
            for hook in self._preempted:
                hook(v)
        for v in sorted(victims, key=lambda r: r.spec.arrival_s, reverse=True):
            self.q.waiting.appendleft(v)
        return transfer

    def swap_in_time(self, d: Decision) -> float:
        return sum(self.pcie_time(self.kv.extra_for(r.id, r.context - 1) * self.kv.block_bytes)
                   for r, _ in d.prefill if r.swapped)

    def pcie_time(self, nbytes: float) -> float:
        """A swap's PCIe time, counted as swapped bytes."""
        self.stats.swap_bytes += nbytes
        return self.pcie_s(nbytes)

    def pcie_s(self, nbytes: float) -> float:
        """PCIe time of `nbytes` between host memory and the replica's chips (split over them)."""
        host = self.cost.server.host
        return nbytes / self.cost.tp / host.pcie_bytes_per_s + host.pcie_latency_s

    # ---- step shapes and completion ----------------------------------------------
    # The token counts of a step are worked out here and nowhere else: `decode_shape` for the
    # batch's decodes (one token per sequence per step), `shape_of` adding the prompt pieces.
    def decode_shape(self, k: int = 0) -> StepShape:
        """The decode part of the k-th step from now: every batch member writes and samples one token."""
        b = self.q.batch
        n = b.n
        return StepShape(decode_seqs=n, decode_context=b.context_sum() + b.slope * k, outputs=n)

    def shape_of(self, d: Decision) -> StepShape:
        n, ctx = (d.decode, self.q.batch.context_sum()) if d.decode else (0, 0)
        tokens = past = outputs = 0
        pairs = 0.0
        for r, take in d.prefill:
            tokens += take
            past += r.prefilled
            pairs += take * (r.prefilled + (take + 1) / 2)
            outputs += r.prefilled + take >= r.prefill_target and not r.swapped
        return StepShape(n, ctx, tokens, pairs, past, outputs + n)

    def finish_step(self, d: Decision) -> None:
        """The end of one step: every KV write of the step is allocated before finished requests free theirs."""
        now = self.env.now
        finished = self.decode_steps(1) if d.decode else []  # first: requests starting to decode now wait
        for r, take in d.prefill:
            if r.state in (RequestState.QUEUED, RequestState.PREEMPTED):
                self.q.admit(r)
            self.kv.grow(r.id, r.context - 1 if r.swapped else self.scheduler.kv_target(r))
            r.prefilled += take
            self.stats.prefill_tokens += take
            if r.swapped:
                r.swapped = False
                self.swap_free += self.kv.held(r.id) * self.kv.block_bytes
                self.q.start_decoding(r)
            elif r.prefilled >= r.prefill_target:
                self.stats.prefill_outputs += 1
                self._emit(r, now)
        for r in finished:
            self.complete(r, now)

    def decode_steps(self, steps: int) -> list[Request]:
        """The batch takes `steps` decode steps: KV blocks and tokens; returns who finished at the last."""
        self.kv.advance(steps)
        b, spec = self.q.batch, self.spec
        tokens = steps * b.n if spec is None else spec.decoded_tokens(b, steps)
        self.stats.decode_tokens += tokens
        if spec is not None:
            self.stats.spec_seq_steps += steps * b.n
            self.stats.spec_tokens += tokens
        return b.advance(steps)

    def _emit(self, r: Request, now: float) -> None:
        """A prefill's last chunk samples the request's next token."""
        r.generated += 1
        if r.first_token_s is None:
            r.first_token_s = now
        leaves = False
        for hook in self._prefilled:
            leaves = hook(r) or leaves
        if r.remaining == 0:
            self.complete(r, now)
        elif not leaves:
            self.q.start_decoding(r)

    def complete(self, r: Request, now: float) -> None:
        self.q.remove(r)
        self.kv.release(r.id)
        r.state, r.finish_s = RequestState.DONE, now
        self.outstanding_tokens -= r.spec.input_tokens + r.spec.output_tokens
        self.recorder.request(_record(r))
        for hook in self._completed:
            hook(r)

    # ---- requests moved between pools (twin.serving.features: disaggregation) ----------
    def release(self, r: Request) -> None:
        """A request that left for another replica no longer holds KV here."""
        self.kv.release(r.id)
        self.outstanding_tokens -= r.spec.input_tokens + r.spec.output_tokens
        self.poke()

    def expect(self, r: Request, kv_tokens: int) -> None:
        """A request whose KV is on its way here: its KV and its tokens are reserved now."""
        self.kv.grow(r.id, kv_tokens)
        self.outstanding_tokens += r.spec.input_tokens + r.spec.output_tokens

    def join_decoding(self, r: Request) -> None:
        """A request whose KV has arrived joins the decode batch."""
        r.replica = self.index
        self.q.running[r.id] = r
        self.q.start_decoding(r)

    # ---- accounting ----------------------------------------------------------------
    def account(self, shape: StepShape, elapsed: float) -> None:
        """One step that took `elapsed` seconds (its cost-model time, plus any transfer or contention)."""
        cost, layers = self.costs.layer(shape), self.cost.model.layers
        if shape.prefill_tokens == 0:
            self.stats.decode_busy_s += elapsed
        else:
            self.stats.add_prefill(cost, layers, elapsed)
        if cost.stretch != 1.0:  # a pipeline: of the step, what its schedule left each stage idle
            self.stats.pipeline_idle_s += elapsed * (1.0 - 1.0 / cost.stretch)
        self.count_work(work_of(cost), 1, elapsed)

    def account_run(self, first: StepShape, growing: float, steps: int, elapsed: float) -> None:
        """A decode run's work: every field is affine in the context, so the run's mean is its middle step's."""
        c0 = first.decode_context
        self.stats.decode_busy_s += elapsed
        if self.cost.pp > 1:
            self.stats.pipeline_idle_s += elapsed * (1.0 - 1.0 / self.costs.decode_layer(first.decode_seqs, c0).stretch)
        self.count_work(self.costs.decode_work(first.decode_seqs, c0, c0 + growing * (steps - 1)), steps, elapsed)

    def count_work(self, work: tuple[float, ...], steps: int, elapsed: float) -> None:
        """`steps` steps, each doing `work` (WORK_FIELDS of a layer) in every layer, in `elapsed` seconds:
        the counters, and the per-chip dynamic power for the run's peak power (twin.energy)."""
        layers, st = self.cost.model.layers * steps, self.stats
        st.steps += steps
        st.busy_s += elapsed
        st.add_work(work, layers)
        if elapsed > 0:  # per-chip dynamic power of what just ran, for the run's peak power (twin.energy)
            mem_bytes, _, macs, esl_bytes, _, _ = work
            j_mac, j_byte, j_link = self._joules
            watts = (macs * j_mac + mem_bytes * j_byte + esl_bytes * j_link) * layers / elapsed
            if watts > st.peak_dynamic_w:
                st.peak_dynamic_w = watts

    def sample(self) -> None:
        now = self.env.now
        if now < self._next_sample:
            return
        self._next_sample = now + self.config.sample_every_s
        batch, queue, kv = self._series
        self.recorder.sample(now, batch, len(self.q.running))
        self.recorder.sample(now, queue, len(self.q.waiting))
        self.recorder.sample(now, kv, self.kv.occupancy)


def _record(r: Request) -> RequestRecord:
    s = r.spec
    return new_record((s.request_id, r.replica, r.state.value, s.arrival_s, s.input_tokens, s.output_tokens,
                       r.first_token_s, r.finish_s, r.preemptions, r.reason))
