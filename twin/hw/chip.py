"""An LPU chip: SMA streaming over HBM, SXE/VXE compute, and its outgoing ESL port.

In `layer` fidelity a step runs as one process per chip that walks the layers: the
SMA holds the memory channels while the layer is busy (streaming, MACs and vector
work overlap: the ICP issues them out of order), then the chip forwards its share
of the all-gathers on its ESL port for the part that did not hide under compute.
"""

from __future__ import annotations

import simpy

from twin.config import ChipSpec
from twin.hw.hbm import Hbm
from twin.hw.link import EslLink


class Chip:
    def __init__(self, env: simpy.Environment, spec: ChipSpec, name: str):
        self.env, self.spec, self.name = env, spec, name
        self.hbm = Hbm(env, spec.memory, f"{name}/hbm", spec.energy)
        self.esl_out: EslLink | None = None  # set when the topology is wired
        self.macs = 0.0
        self.compute_busy_s = 0.0

    def run_layers(self, cost, layers: int):
        """Execute `layers` identical layers of one step (a `LayerCost`)."""
        for _ in range(layers):
            yield from self.hbm.stream(cost.mem_bytes, cost.busy_s + cost.codec_s)  # the codec sits in the DMA
            self.macs += cost.macs
            self.compute_busy_s += cost.compute_s
            if cost.esl_exposed_s > 0 and self.esl_out is not None:
                yield from self.esl_out.send(cost.esl_bytes, cost.esl_exposed_s)
            if cost.launch_s > 0:  # a GPU's launch-bound kernels: the chip waits on the host's launches
                yield self.env.timeout(cost.launch_s)

    def state(self) -> dict[str, float]:
        act = self.hbm.activity
        macs = act.macs if self.macs == 0 and act is not None else self.macs
        energy = self.spec.energy
        joules = {} if energy is None else {
            "static_j": energy.static_w * self.env.now, "compute_j": macs * energy.pj_per_mac * 1e-12}
        return {"kind": self.spec.kind, "mac_trees": self.spec.mac_trees, "lanes": self.spec.lanes,
                "macs": macs, "compute_busy_s": macs / self.spec.macs_per_s, **joules, **{
                    f"hbm_{k}": v for k, v in self.hbm.state().items()}}
