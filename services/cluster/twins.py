"""Live twins of one cluster replica: each a `Simulation` whose every use holds its lock.

gRPC runs handlers on a thread pool, and a SimPy environment is not thread-safe, so a
twin is only touched under `Twin.lock`. Twins nobody used for `idle_s` are dropped when
room is needed, so a client that vanished does not pin memory for ever.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from services.limits import RunLimits
from twin.errors import CapacityExceeded, InvalidSpec, NotRunning, UnknownName
from twin.metrics import RequestRecord, SeriesSample
from twin.quant.schemes import QuantPolicy
from twin.replay import RunSpec, advance, summarize
from twin.serving.request import TraceRequest
from twin.sim import component_figures, Simulation
from twin.summary import Slo


PIECES = 20  # checkpoints within one Advance at which a cancelled caller stops the twin
MAX_STEPS = 100_000  # steps one Advance may take: a tiny step must not hold a twin's lock for ever


@dataclass
class Twin:
    twin_id: str
    sim: Simulation
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used_s: float = field(default_factory=time.monotonic)
    error: str = ""  # set once the twin failed; it cannot advance any more

    def submit(self, requests: list[TraceRequest]) -> int:
        with self.lock:
            for r in requests:
                self.sim.submit(r)
            return self.sim.submitted

    def advance(self, until_s: float | None, is_active: Callable[[], bool] = lambda: True,
                step_s: float | None = None) -> tuple[float, int, int, str]:
        """(now, finished, submitted, error). A failure is reported, as a replay reports it.

        With `step_s`, the twin runs to `until_s` in steps of `step_s`, and stops after the
        first step at whose end every request finished. Once `is_active()` turns false (the
        caller cancelled, or its deadline passed) the twin stops at the next step or of
        `PIECES` checkpoints instead of running on for nobody."""
        with self.lock:
            if until_s is not None and until_s < self.sim.now_s:
                raise NotRunning(f"cannot run back to {until_s} s; the twin is at {self.sim.now_s} s")
            if step_s and until_s is not None and (until_s - self.sim.now_s) / step_s > MAX_STEPS:
                raise InvalidSpec("step_s", f"steps of {step_s:g} s to {until_s:g} s would be more than "
                                            f"{MAX_STEPS:,}; take longer steps")
            if not self.error:
                try:
                    if step_s and until_s is not None:
                        self._run_steps(until_s, step_s, is_active)
                    else:
                        self._run(until_s, is_active)
                except Exception as exc:  # the run is failed; the caller still gets what was recorded
                    self.error = f"{type(exc).__name__}: {exc}"
            return self.sim.now_s, self.sim.finished, self.sim.submitted, self.error

    def _run(self, until_s: float | None, is_active: Callable[[], bool]) -> None:
        if until_s is None:
            self._run_all(is_active)
            return
        env, start = self.sim.env, self.sim.now_s
        for piece in range(1, PIECES):
            if not env.peek() < until_s:  # nothing happens before until_s: one last jump
                break
            if not is_active():
                return
            advance(self.sim, start + (until_s - start) * piece / PIECES)
        advance(self.sim, until_s)

    def _run_steps(self, until_s: float, step_s: float, is_active: Callable[[], bool]) -> None:
        """The slices of `twin.replay.replay`: each from the clock, by the same additions, so a
        run ends at the very time an embedded replay of the same slices ends."""
        sim = self.sim
        while sim.now_s < until_s and sim.finished < sim.submitted and is_active():
            advance(sim, min(sim.now_s + step_s, until_s))

    def _run_all(self, is_active: Callable[[], bool]) -> None:
        """Step until every request finished, checking `is_active` every 10,000 events."""
        sim = self.sim
        while sim.finished < sim.submitted:
            if not is_active():
                return
            if sim.env.peek() == float("inf"):
                sim.run()  # raises: an empty schedule with requests unfinished, the twin stalled
            for _ in range(10_000):
                if sim.finished >= sim.submitted:
                    break
                sim.env.step()

    def drain(self) -> tuple[list[RequestRecord], list[SeriesSample]]:
        with self.lock:
            return self.sim.recorder.drain()

    def summarize(self, slo: Slo, status: str) -> tuple[dict, dict[str, dict[str, float]]]:
        with self.lock:
            components = component_figures(self.sim)
            return summarize(self.sim, slo, status), components

    def component(self, path: str) -> dict:
        with self.lock:
            return dict(self.sim.component(path).state())

    def set_policy(self, policy: QuantPolicy) -> None:
        with self.lock:
            self.sim.set_policy(policy)


class TwinRegistry:
    """The twins of this replica by id, at most `max_twins` at once."""

    def __init__(self, max_twins: int = 64, idle_s: float = 3600.0, limits: RunLimits | None = None):
        self.max_twins, self.idle_s = max_twins, idle_s
        self.limits = limits or RunLimits()
        self._twins: dict[str, Twin] = {}
        self._lock = threading.Lock()

    def create(self, spec: RunSpec) -> Twin:
        self.limits.check_spec(spec)  # before building: a million servers would take the memory
        sim = spec.build()  # bad specs raise here, before any room is taken
        twin = Twin(uuid.uuid4().hex, sim)
        with self._lock:
            self._drop_idle()
            if len(self._twins) >= self.max_twins:
                raise CapacityExceeded(f"this cluster replica already holds {self.max_twins} twins; "
                                       "delete one or use another replica")
            self._twins[twin.twin_id] = twin
        return twin

    def get(self, twin_id: str) -> Twin:
        with self._lock:
            twin = self._twins.get(twin_id)
        if twin is None:
            raise UnknownName("twin", twin_id)
        twin.last_used_s = time.monotonic()
        return twin

    def delete(self, twin_id: str) -> None:
        with self._lock:
            if self._twins.pop(twin_id, None) is None:
                raise UnknownName("twin", twin_id)

    def discard(self, twin_id: str) -> None:
        """Drop a twin if it is still there."""
        with self._lock:
            self._twins.pop(twin_id, None)

    def __len__(self) -> int:
        return len(self._twins)

    def _drop_idle(self) -> None:
        cutoff = time.monotonic() - self.idle_s
        for twin_id in [t.twin_id for t in self._twins.values() if t.last_used_s < cutoff]:
            del self._twins[twin_id]
