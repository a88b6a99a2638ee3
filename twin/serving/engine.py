"""The replica engine: one SimPy process that carries out the scheduler's decisions.

In `step` fidelity a run of pure-decode steps between two batch changes (an arrival
that can be admitted, a completion, the KV cache filling up, a context reaching the
sliding window) is advanced in one event, its time summed in closed form. In `layer`
fidelity every step is executed layer by layer on the chips (`twin.hw`). Both use the
same cost model and the same scheduler, so they make the same decisions.
"""

from __future__ import annotations

import simpy

from twin.serving.closed_form import Affine, StepTimes
from twin.serving.cost import CostModel, StepShape
from twin.serving.lifecycle import Lifecycle
from twin.serving.request import Request


class StepBackend:
    """Executes a step as one timeout of its closed-form time."""

    def __init__(self, env: simpy.Environment, cost: CostModel):
        self.env, self.cost = env, cost

    def step(self, shape: StepShape, transfer_s: float):
        yield self.env.timeout(self.cost.step_time(shape) + transfer_s)


class Replica(Lifecycle):
    """One model copy on `tp` chips: queues, KV cache, scheduler and the engine process."""

    def run(self):
        while True:
            if self.rules:
                self.adapt()
            d = self.scheduler.plan(self.q)
            if d.idle:
                yield self._wait_for_work()
                continue
            transfer_s = self.preempt(d.preempt) + self.swap_in_time(d)
            self.sample()
            if d.prefill or not self.closed_form:
                shape, start = self.shape_of(d), self.env.now
                yield from self.backend.step(shape, transfer_s)
                self.account(shape, self.env.now - start)
                self.finish_step(d)
            else:
                yield from self.decode_run(d.decode, transfer_s)

    def _wait_for_work(self) -> simpy.Event:
        self.wake = self.env.event()
        return self.wake

    # ---- decode runs in closed form -----------------------------------------------
    def decode_run(self, batch: list[Request], transfer_s: float):
        steps, times, s0, growing = self.plan_run(batch)
        if transfer_s:
            yield self.env.timeout(transfer_s)
        start, total = self.env.now, times.total(steps)
        if self.interruptible():
            self.wake = self.env.event()
            timer = self.env.timeout(total)
            fired = yield timer | self.wake
            if timer not in fired:  # an arrival: stop at the end of the step in flight
                done = min(times.steps_within(self.env.now - start, steps) + 1, steps)
                yield self.env.timeout(max(0.0, start + times.total(done) - self.env.now))
                steps = done
        else:
            yield self.env.timeout(total)
        self.account_run(s0, growing, steps, times.total(steps) + transfer_s)
        self.advance_decodes(batch, steps, start, times)

    def plan_run(self, batch: list[Request]) -> tuple[int, StepTimes, StepShape, int]:
        window = self.cost.model.sliding_window
        ctx = [r.context for r in batch]
        growing = sum(1 for c in ctx if window is None or c < window)
        c0 = sum(c if window is None else min(c, window) for c in ctx)
        n = len(batch)
        s0 = StepShape(decode_seqs=n, decode_context=c0, outputs=n)
        s1 = StepShape(decode_seqs=n, decode_context=c0 + growing, outputs=n)
        steps = min(r.remaining for r in batch)
        steps = self.kv_steps(batch, steps)
        if window is not None and growing:
            steps = min(steps, min(window - c for c in ctx if c < window) or 1)
        return max(steps, 1), self.step_times(s0, s1), s0, growing

    def step_times(self, s0: StepShape, s1: StepShape) -> StepTimes:
        """Step time as max of affine pieces (memory, compute, vector) in the step index."""
        cm, layers = self.cost, self.cost.model.layers
        l0, l1 = cm.layer(s0), cm.layer(s1)
        const = layers * (l0.esl_exposed_s + l0.codec_s) + cm.head_time(s0) + cm.server.host.step_overhead_s
        pairs = ((l0.mem_s, l1.mem_s), (l0.compute_s, l1.compute_s), (l0.vxe_s, l1.vxe_s))
        return StepTimes([Affine(layers * a + const, layers * (b - a)) for a, b in pairs])

    def kv_steps(self, batch: list[Request], limit: int) -> int:
        """How many decode steps (at most `limit`) the free KV blocks allow before the batch must change."""
        kv, bs = self.kv, self.kv.block_tokens
        if len(batch) * (-(-(limit + bs) // bs)) <= kv.free:  # each request needs at most this many blocks
            return limit
        held = [(r.context, kv.held(r.id)) for r in batch]

        def need(k: int) -> int:  # extra blocks after k steps (step j writes token context + j)
            return sum(max(0, -(-(c + k - 1) // bs) - h) for c, h in held)

        lo, hi = 0, limit
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if need(mid) <= kv.free:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def advance_decodes(self, batch: list[Request], steps: int, start: float, times: StepTimes) -> None:
        end = start + times.total(steps)
        self.kv.grow_many([(r.id, r.context + steps - 1) for r in batch])
        self.stats.decode_tokens += steps * len(batch)
        for r in batch:
            r.generated += steps
            if r.generated == r.spec.output_tokens:
                self.complete(r, end)
