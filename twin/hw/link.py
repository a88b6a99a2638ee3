"""One direction of a link: ESL between two neighbouring chips, or a server's NICs to the host network; a
resource held while sending.

The sending chip walks its layers in closed form while nothing else uses the port
(`twin.hw.walk`); anything else that sends tells that chip first (`owner.contend()`).
"""

from __future__ import annotations

import simpy

from twin.config import LinkSpec, NetworkSpec


class EslLink:
    def __init__(self, env: simpy.Environment, spec: LinkSpec, name: str):
        self.env, self.spec, self.name = env, spec, name
        self.port = simpy.Resource(env, capacity=1)
        self.busy_s = 0.0
        self.bytes_moved = 0.0
        self.owner = None  # the twin.hw.chip.Chip whose outgoing port this is

    def send(self, nbytes: float, exposed_s: float):
        """Occupy the link for the exposed part of a gather (the rest hid under compute)."""
        if self.owner is not None:
            self.owner.contend()
        yield from self.finish_send(self.port.request(), nbytes, exposed_s)

    def finish_send(self, req, nbytes: float, left_s: float):
        """Hold the port `req` asked for during `left_s`, then count `nbytes` sent."""
        with req:
            yield req
            yield self.env.timeout(left_s)
        self.count(nbytes)

    def count(self, nbytes: float) -> None:
        self.busy_s += nbytes / self.spec.bytes_per_s
        self.bytes_moved += nbytes

    def state(self) -> dict[str, float]:
        walk = None if self.owner is None else self.owner.walk
        if self.owner is not None:
            self.owner.sync()
        sending = walk is not None and walk.sending(self.env.now)
        return {"bandwidth_gbit_s": self.spec.bandwidth_gbit_s, "busy_s": self.busy_s,
                "bytes_moved": self.bytes_moved, "in_use": self.port.count + int(sending),
                "energy_j": self.bytes_moved * self.spec.pj_per_byte * 1e-12}

    def carry(self, nbytes: float):
        """Send `nbytes` from one chip to its neighbour (a pipeline stage's activations): the port is held while
        they serialise, then they take the hop's latency to arrive."""
        with self.port.request() as req:
            yield req
            yield self.env.timeout(nbytes / self.spec.bytes_per_s)
        self.count(nbytes)
        yield self.env.timeout(self.spec.hop_latency_s)


class NicLink:
    """A server's NICs towards the host network (`network:` in its YAML), one direction: a resource held while
    sending, then the one-way latency to the other server. Carries a pipeline's activations across servers."""

    def __init__(self, env: simpy.Environment, spec: NetworkSpec, name: str):
        self.env, self.spec, self.name = env, spec, name
        self.port = simpy.Resource(env, capacity=1)
        self.busy_s = 0.0
        self.bytes_moved = 0.0

    def carry(self, nbytes: float):
        with self.port.request() as req:
            yield req
            yield self.env.timeout(nbytes / self.spec.bytes_per_s)
        self.busy_s += nbytes / self.spec.bytes_per_s
        self.bytes_moved += nbytes
        yield self.env.timeout(self.spec.latency_s)

    def state(self) -> dict[str, float]:
        return {"bandwidth_gbit_s": self.spec.nics * self.spec.nic_gbit_s, "busy_s": self.busy_s,
                "bytes_moved": self.bytes_moved, "in_use": float(self.port.count)}
