"""An LPU chip: SMA streaming over HBM, SXE/VXE compute, and its outgoing ESL port.

In `layer` fidelity a step walks the layers on every chip: the SMA holds the memory
channels while the layer is busy (streaming, MACs and vector work overlap: the ICP issues
them out of order), then the chip forwards its share of the all-gathers on its ESL port for
the part that did not hide under compute. The walk is kept in closed form (`twin.hw.walk`)
as long as only the walk uses the chip's channels and port, since then no layer can be held
up; the instant anything else asks for them (`contend`), the layer in flight takes what it
holds at that instant and the rest of the walk goes event by event, queueing like any user.
Counters (MACs, bytes, busy time) count each layer when its phase ends, either way.
"""

from __future__ import annotations

import simpy

from twin.config import ChipSpec
from twin.hw.hbm import Hbm
from twin.hw.link import EslLink
from twin.hw.walk import LayerWalk


class Chip:
    def __init__(self, env: simpy.Environment, spec: ChipSpec, name: str):
        self.env, self.spec, self.name = env, spec, name
        self.hbm = Hbm(env, spec.memory, f"{name}/hbm", spec.energy)
        self.hbm.owner = self
        self.esl_out: EslLink | None = None  # set when the topology is wired
        self.macs = 0.0
        self.compute_busy_s = 0.0
        self.walk: LayerWalk | None = None  # this step's layers, in closed form until something contends
        self.run: simpy.Process | None = None  # the rest of the walk, event by event, once something did
        self.end_s = 0.0  # when this step's last layer ends (final once `run` has finished)
        self._counted = (0, 0)  # layers of `walk` streamed and sent that the counters hold

    def begin(self, walk: LayerWalk) -> None:
        """Walk a step's layers (`walk`, built for this chip's ports); they end at `end_s`."""
        self.walk, self.run, self._counted, self.end_s = walk, None, (0, 0), walk.end_s
        if not self._idle():  # something else holds or awaits the channels or port: queue for them
            self.contend()

    def _idle(self) -> bool:
        mem, port = self.hbm.channels, None if self.esl_out is None else self.esl_out.port
        return mem.level == mem.capacity and not mem.get_queue and (port is None or not (port.count or port.queue))

    def contend(self) -> None:
        """Something else is about to ask for this chip's channels or port: walk on event by event."""
        walk = self.walk
        if walk is None:
            return
        self.sync()
        self.walk = None
        k, offset = walk.position(self.env.now)
        if k < walk.layers:
            held = self._hold(walk, offset)  # taken now, so the newcomer queues behind the layer in flight
            self.run = self.env.process(self._resume(walk, k, offset, held))

    def _hold(self, walk: LayerWalk, offset: float):
        if 0 <= offset < walk.stream_s:
            return self.hbm.channels.get(self.hbm.spec.channels)
        if walk.sends and walk.stream_s <= offset < walk.stream_s + walk.esl_s:
            return self.esl_out.port.request()
        return None

    def _resume(self, walk: LayerWalk, k: int, offset: float, held):
        yield from self._layer(walk, offset, held)
        for _ in range(k + 1, walk.layers):
            yield from self._layer(walk)
        self.end_s = self.env.now

    def _layer(self, walk: LayerWalk, offset: float = 0.0, held=None):
        """One layer as events, from `offset` s into it, `held` being the request the layer in flight holds."""
        if offset < 0:  # the walk has not started: the host is still scheduling the step
            yield self.env.timeout(-offset)
            offset = 0.0
        cost, stream_end, esl_end = walk.cost, walk.stream_s, walk.stream_s + walk.esl_s
        if offset < stream_end:
            got = held if held is not None else self.hbm.channels.get(self.hbm.spec.channels)
            yield from self.hbm.finish_stream(got, cost.mem_bytes, walk.stream_s, stream_end - offset)
            self._count_compute(cost, 1)
        if walk.sends and offset < esl_end:
            req = held if offset >= stream_end else self.esl_out.port.request()
            yield from self.esl_out.finish_send(req, cost.esl_bytes, esl_end - max(offset, stream_end))
        if cost.launch_s > 0:  # a GPU's time outside the stream: launches, kernel fill and drain, exposed overlap
            yield self.env.timeout(walk.period_s - max(offset, esl_end))

    def sync(self) -> None:
        """Count the layers the closed-form walk has streamed and sent by now."""
        walk = self.walk
        if walk is None:
            return
        now, (streamed, sent) = self.env.now, self._counted
        self._counted = walk.streamed(now), walk.sent(now)
        n, cost = self._counted[0] - streamed, walk.cost
        self.hbm.count(n * cost.mem_bytes, n * walk.stream_s)
        self._count_compute(cost, n)
        if walk.sends:
            self.esl_out.count((self._counted[1] - sent) * cost.esl_bytes)

    def finish(self) -> None:
        """The step is over: count what the closed-form walk did."""
        self.sync()
        self.walk = None

    def _count_compute(self, cost, layers: int) -> None:
        self.macs += layers * cost.macs
        self.compute_busy_s += layers * cost.compute_s

    def state(self) -> dict[str, float]:
        self.sync()
        act = self.hbm.activity
        macs = act.macs if self.macs == 0 and act is not None else self.macs
        energy = self.spec.energy
        joules = {} if energy is None else {
            "static_j": energy.static_w * self.env.now, "compute_j": macs * energy.pj_per_mac * 1e-12}
        return {"kind": self.spec.kind, "mac_trees": self.spec.mac_trees, "lanes": self.spec.lanes,
                "macs": macs, "compute_busy_s": macs / self.spec.macs_per_s, **joules, **{
                    f"hbm_{k}": v for k, v in self.hbm.state().items()}}
