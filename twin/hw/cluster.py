"""Servers of chips wired into ESL rings or lines, and the layer-fidelity step executor."""

from __future__ import annotations

import simpy

from twin.config import ClusterSpec
from twin.hw.chip import Chip
from twin.hw.host import Host
from twin.hw.link import EslLink


class Server:
    def __init__(self, env: simpy.Environment, cluster: ClusterSpec, index: int):
        spec = self.spec = cluster.server
        self.name = f"server{index}"
        self.chips = [Chip(env, spec.chip, f"{self.name}/chip{i}") for i in range(spec.chips)]
        self.host = Host(env, spec.host, spec.chips, f"{self.name}/host")
        self.links: list[EslLink] = []
        for start in range(0, spec.chips, cluster.tp):
            self._wire(env, cluster, self.chips[start:start + cluster.tp])

    def _wire(self, env, cluster: ClusterSpec, group: list[Chip]) -> None:
        """Each chip's outgoing port to its neighbour; a closed ring when the group spans the server."""
        if len(group) == 1:
            return
        ring = cluster.topology == "ring"
        for i, chip in enumerate(group):
            if i + 1 < len(group) or ring:
                link = EslLink(env, cluster.server.link, f"{self.name}/esl/link{len(self.links)}")
                self.links.append(link)
                chip.esl_out = link


class LayerBackend:
    """Runs a replica's step layer by layer on its chips; the host adds its overhead and DMA."""

    def __init__(self, env: simpy.Environment, cost, chips: list[Chip], host: Host, first_chip: int):
        self.env, self.cost, self.chips, self.host, self.first = env, cost, chips, host, first_chip
        self.tracer = None  # a twin.trace_events.TraceEvents to report each step to; None costs one test

    def step(self, shape, transfer_s: float):
        start = self.env.now
        yield from self.host.schedule_step()
        layer, chips_start = self.cost.layer(shape), self.env.now
        runs = [self.env.process(c.run_layers(layer, self.cost.model.layers)) for c in self.chips]
        yield self.env.all_of(runs)
        chips_end, head_s = self.env.now, self.cost.head_time(shape)
        yield self.env.timeout(head_s + transfer_s)
        if self.tracer is not None:
            self.tracer.step(self.chips, f"{self.host.name}/chips{self.first}-{self.first + len(self.chips) - 1}",
                             self.cost.model.layers, layer,
                             (start, chips_start, chips_end, self.env.now), head_s, shape)
