"""The replica engine: one SimPy process that carries out the scheduler's decisions.

In `step` fidelity a run of pure-decode steps between two batch changes (an arrival
that can be admitted, a completion, the KV cache filling up, a context reaching the
sliding window) is advanced in one event, its time summed in closed form. In `layer`
fidelity every step is executed layer by layer on the chips (`twin.hw`). Both use the
same cost model and the same scheduler, so they make the same decisions.
"""

from __future__ import annotations

import simpy

from twin.serving.closed_form import StepTimes
from twin.serving.cost import CostModel, StepShape
from twin.serving.lifecycle import Lifecycle
from twin.serving.shape_cost import ShapeCosts, run_times


class StepBackend:
    """Executes a step as one timeout of its closed-form time."""

    def __init__(self, env: simpy.Environment, cost: CostModel):
        self.env, self.cost = env, cost
        self._costs = ShapeCosts(cost)

    def step(self, shape: StepShape, transfer_s: float):
        if self._costs.cost is not self.cost:  # a policy switch replaced the cost model
            self._costs = ShapeCosts(self.cost)
        yield self.env.timeout(self._costs.step_time(shape) + transfer_s)


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
                yield from self.decode_run(transfer_s)

    def _wait_for_work(self) -> simpy.Event:
        self.wake = self.env.event()
        return self.wake

    # ---- decode runs in closed form -----------------------------------------------
    def decode_run(self, transfer_s: float):
        steps, times = self.plan_run()
        s0, growing = self.decode_shape(), self.q.batch.growing
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
        for r in self.decode_steps(steps):
            self.complete(r, start + times.total(steps))

    def plan_run(self) -> tuple[int, StepTimes]:
        """Steps until the batch must change (a completion, a window edge, KV running out) and their times."""
        b = self.q.batch
        steps = self.kv.steps_free(b.steps_to_event())
        return max(steps, 1), self.costs.decode_times(b.n, b.context_sum(), b.growing)

    def step_times(self, s0: StepShape, s1: StepShape) -> StepTimes:
        """A decode run's step times straight from the cost model, from the shapes of its first two
        steps (the replica's own decode runs use the cached `costs.decode_times`)."""
        cm = self.cost
        return run_times(cm, cm.layer(s0), cm.layer(s1), cm.head_time(s0))
