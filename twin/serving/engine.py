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
from twin.serving.features import SumTimes
from twin.serving.lifecycle import Lifecycle
from twin.serving.shape_cost import run_times, shape_costs


class StepBackend:
    """Executes a step as one timeout of its closed-form time."""

    def __init__(self, env: simpy.Environment, cost: CostModel):
        self.env, self.cost = env, cost

    def step(self, shape: StepShape, transfer_s: float):
        yield self.env.timeout(shape_costs(self.cost).step_time(shape) + transfer_s)


class Replica(Lifecycle):
    """One model copy on `tp` chips: queues, KV cache, scheduler and the engine process."""

    def run(self):
        while True:
            for hook in self._boundary:
                hook()
            d = self.scheduler.plan(self.q)
            if d.idle:
                yield self._wait_for_work()
                continue
            transfer_s = self.transfers(d) if d.preempt or d.prefill else 0.0
            self.sample()
            if d.prefill or not self.closed_form:
                shape, start = self.shape_of(d), self.env.now
                spec = self.spec
                if spec is not None:
                    shape, transfer_s = spec.shape(shape), transfer_s + spec.draft_time(shape)
                for hook in self._step_started:
                    hook(d, start + transfer_s, shape)
                yield from self.backend.step(shape, transfer_s)
                self.account(shape, self.env.now - start)
                self.finish_step(d)
            else:
                yield from self.decode_run(transfer_s)

    def transfers(self, d) -> float:
        """PCIe time before the step: swap-outs of the preempted, swap-ins and host-tier prefix hits
        (each asked only where it can happen: this runs before every prefill step)."""
        t = self.preempt(d.preempt) if d.preempt else 0.0
        if self.config.preemption == "swap":
            t += self.swap_in_time(d)
        for hook in self._before_step:
            t += hook(d)
        return t

    def _wait_for_work(self) -> simpy.Event:
        self.wake = self.env.event()
        return self.wake

    # ---- decode runs in closed form -----------------------------------------------
    def decode_run(self, transfer_s: float):
        s0, growing = self.decode_shape(), self.q.batch.slope
        steps, times = self.plan_run(s0)
        if transfer_s:
            yield self.env.timeout(transfer_s)
        start, elapsed = self.env.now, times.total(steps)
        if not self.interruptible():
            yield self.env.timeout(elapsed)
        elif not (yield self._run_or_wake(elapsed)):  # an arrival: stop at the end of the step in flight
            steps = min(times.steps_within(self.env.now - start, steps) + 1, steps)
            elapsed = times.total(steps)
            yield self.env.timeout(max(0.0, start + elapsed - self.env.now))
        spec = self.spec
        if spec is None:
            self.account_run(s0, growing, steps, elapsed + transfer_s)
        else:
            assert isinstance(times, SumTimes)  # speculating: the verify step's times, then the drafts'
            spec.account_run(s0, growing, steps, elapsed + transfer_s, times)
        for r in self.decode_steps(steps):
            self.complete(r, start + elapsed)

    def _run_or_wake(self, total: float) -> simpy.Event:
        """An event that fires with True when the run's `total` seconds end, or with None as soon as an
        arrival wakes the replica (enqueue succeeds `wake`); one event, so no condition is built."""
        wake = self.wake = self.env.event()

        def ended(_) -> None:
            if not wake.triggered:
                wake.succeed(True)
        self.env.timeout(total).callbacks.append(ended)
        return wake

    def plan_run(self, s0: StepShape) -> tuple[int, StepTimes | SumTimes]:
        """Steps until the batch must change (a completion, a window edge, KV running out) and their times,
        for a run whose first step is `s0`."""
        b = self.q.batch
        steps = max(self.kv.steps_free(b.steps_to_event()), 1)
        spec = self.spec
        if spec is None:
            return steps, self.costs.decode_times(s0.decode_seqs, s0.decode_context, b.slope)
        return steps, spec.run_times(s0, self.decode_shape(1))

    def step_times(self, s0: StepShape, s1: StepShape, cm: CostModel | None = None,
                   layers: int | None = None) -> StepTimes:
        """A decode run's step times straight from a cost model (this replica's, or a draft's running
        `layers` layers), from the shapes of its first two steps."""
        costs = shape_costs(cm or self.cost)
        return run_times(costs.cost, costs.layer(s0), costs.layer(s1), costs.head_time(s0.outputs), layers)
