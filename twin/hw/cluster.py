"""Servers of chips wired into ESL rings or lines, and the layer-fidelity step executors.

A pipeline replica's neighbouring stages on one server are joined by the ESL (or NVLink) port between
their end chips; stages on different servers by the servers' NICs (`twin.hw.pipeline`).
"""

from __future__ import annotations

import simpy

from twin.config import ClusterSpec
from twin.hw.chip import Chip
from twin.hw.host import Host
from twin.hw.link import EslLink, NicLink
from twin.hw.pipeline import PipelineBackend
from twin.hw.walk import LayerWalk


class Server:
    """A server's chips, host, and the links its replicas' layout wires: the ESL (or NVLink) ports of each
    tensor-parallel group, the ports between a pipeline's stages, and its NICs when a replica spans servers.
    `layout`: (cluster, first chip, end chip) of each pool sharing the servers in layouts of their own,
    counting the chips of all those servers in turn (twin.deployment.server_layout); None: `cluster`'s."""

    def __init__(self, env: simpy.Environment, cluster: ClusterSpec, index: int, layout=None):
        spec = self.spec = cluster.server
        self.name = f"server{index}"
        self.chips = [Chip(env, spec.chip, f"{self.name}/chip{i}") for i in range(spec.chips)]
        self.host = Host(env, spec.host, spec.chips, f"{self.name}/host")
        self.links: list = []  # ESL links (EslLink), then the links between stages and the NICs (NicLink)
        self.stage_links: dict[int, EslLink] = {}  # chip index -> its port to the next stage's first chip
        segments = layout or [(cluster, 0, cluster.servers * spec.chips)]
        here = index * spec.chips
        for part, first, end in segments:
            for start in range(max(first, here), min(end, here + spec.chips), part.tp):
                self._wire(env, part, self.chips[start - here:start - here + part.tp])
                if part.pp > 1 and ((start - first) // part.tp) % part.pp and start > here:
                    self._wire_stage(env, part, start - here - 1)
        self.nic = None  # its NICs out to the next server, when a replica spans servers
        if spec.network is not None and max(part.chips_per_replica for part, _, _ in segments) > spec.chips:
            self.nic = NicLink(env, spec.network, f"{self.name}/nic-out")
            self.links.append(self.nic)

    def _wire(self, env, cluster: ClusterSpec, group: list[Chip]) -> None:
        """Each chip's outgoing port to its neighbour; a closed ring when the group spans the server."""
        if len(group) == 1:
            return
        ring = cluster.topology == "ring"
        for i, chip in enumerate(group):
            if i + 1 < len(group) or ring:
                number = len(self.links) - len(self.stage_links)  # ring links are numbered on their own
                link = EslLink(env, cluster.server.link, f"{self.name}/esl/link{number}")
                self.links.append(link)
                chip.esl_out, link.owner = link, chip

    def _wire_stage(self, env, cluster: ClusterSpec, chip: int) -> None:
        """The port from a stage's last chip (`chip`) to the next stage's first, on this server."""
        link = EslLink(env, cluster.server.link, f"{self.name}/esl/stage-link{len(self.stage_links)}")
        self.stage_links[chip] = link
        self.links.append(link)


def replica_chips(servers: list[Server], first_server: int, first_chip: int, count: int) -> list[Chip]:
    """The `count` chips of a replica from chip `first_chip` of server `first_server`, over whole servers if it
    spans them."""
    spans = -(-(first_chip + count) // servers[first_server].spec.chips)
    chips = [chip for server in servers[first_server:first_server + spans] for chip in server.chips]
    return chips[first_chip:first_chip + count]


def layer_backend(env: simpy.Environment, cost, servers: list[Server], first_server: int, first_chip: int,
                  cached):
    """The layer-fidelity executor of the replica of `cost` (its tp and pp) starting at chip `first_chip` of
    server `first_server`: a tensor-parallel group's walk, or a pipeline of such groups."""
    tp, pp, per = cost.tp, cost.pp, servers[first_server].spec.chips
    chips = replica_chips(servers, first_server, first_chip, tp * pp)
    host = servers[first_server].host
    if pp == 1:
        return LayerBackend(env, cost, chips, host, first_chip, cached)
    links = []
    for s in range(1, pp):
        index = first_server * per + first_chip + s * tp - 1  # the sending chip, counted over the servers
        server = servers[index // per]
        links.append(server.stage_links[index % per] if (index + 1) % per else server.nic)
    stages = [chips[s * tp:(s + 1) * tp] for s in range(pp)]
    return PipelineBackend(env, cost, stages, links, host, f"{host.name}/pipeline{first_chip}")


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
                             head_s, shape, self.cost.collective_parts(shape.tokens, layer.esl_exposed_s,
                                                                       layer.esl_bytes))
            self._trace_network(shape, (chips_start, chips_end))

    def _trace_network(self, shape, span: tuple[float, float]) -> None:
        """A group spanning servers: what its collectives bring each server through its NICs this step."""
        nbytes = self.cost.model.layers * self.cost.network_bytes(shape.tokens)
        servers = sorted({chip.name.split("/", 1)[0] for chip in self.chips})
        if nbytes > 0 and len(servers) > 1:
            for server in servers:
                self.tracer.span(f"{server}/nic-in", f"tensor-parallel collectives x{self.cost.model.layers}",
                                 span[0], span[1] - span[0], {"bytes": nbytes})

    def _chips_end(self):
        """When the last chip ended its layers, after waiting for any still walking as events."""
        running = [c.run for c in self.chips if c.run is not None and c.run.is_alive]
        if running:
            yield self.env.all_of(running)
        return max(c.end_s for c in self.chips)
