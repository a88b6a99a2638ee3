"""Servers of chips wired into ESL rings or lines, and the layer-fidelity step executor."""

from __future__ import annotations

import simpy

from twin.config import ClusterSpec
from twin.hw.chip import Chip
from twin.hw.host import Host
from twin.hw.link import EslLink
from twin.hw.walk import LayerWalk


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
                chip.esl_out, link.owner = link, chip


class LayerBackend:
    """Runs a replica's step layer by layer on its chips; the host adds its overhead and DMA.

    The host schedules, every chip walks the step's layers (`Chip.begin`), then the LM head,
    sampler and PCIe tail follow the last chip. The chips of a tensor-parallel replica do
    identical work, and while nothing else uses their channels or ports their walks are
    closed-form timelines, so the whole step is one timeout; a chip that something contended
    with walks on as events (`Chip.run`), and the step waits for it.
    """

    def __init__(self, env: simpy.Environment, cost, chips: list[Chip], host: Host, first_chip: int, cached):
        self.env, self.cost, self.chips, self.host, self.first = env, cost, chips, host, first_chip
        # cached(cost): the cost model's per-shape cache (its layer(shape) and head_time(outputs)), handed
        # in by the twin, so the step and its accounting evaluate a shape once (hw never imports serving)
        self.cached = cached
        self.tracer = None  # a twin.trace_events.TraceEvents to report each step to; None costs one test

    def step(self, shape, transfer_s: float):
        costs = self.cached(self.cost)
        start, layer = self.env.now, costs.layer(shape)
        chips_start = start + self.host.schedule_step()
        walks = {port: LayerWalk(chips_start, self.cost.model.layers, layer, port) for port in (False, True)}
        for chip in self.chips:
            chip.begin(walks[chip.esl_out is not None])
        head_s = costs.head_time(shape.outputs)
        tail_s = head_s + transfer_s
        yield self.env.timeout(max(c.end_s for c in self.chips) + tail_s - start)
        chips_end = yield from self._chips_end()
        if self.env.now < chips_end + tail_s:  # a contended chip finished late
            yield self.env.timeout(chips_end + tail_s - self.env.now)
        for chip in self.chips:
            chip.finish()
        if self.tracer is not None:
            self.tracer.step(self.chips, f"{self.host.name}/chips{self.first}-{self.first + len(self.chips) - 1}",
                             self.cost.model.layers, layer, (start, chips_start, chips_end, self.env.now),
                             head_s, shape)

    def _chips_end(self):
        """When the last chip ended its layers, after waiting for any still walking as events."""
        running = [c.run for c in self.chips if c.run is not None and c.run.is_alive]
        if running:
            yield self.env.all_of(running)
        return max(c.end_s for c in self.chips)
