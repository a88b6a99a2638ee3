"""One direction of an ESL link between two neighbouring chips: a resource held while sending."""

from __future__ import annotations

import simpy

from twin.config import LinkSpec


class EslLink:
    def __init__(self, env: simpy.Environment, spec: LinkSpec, name: str):
        self.env, self.spec, self.name = env, spec, name
        self.port = simpy.Resource(env, capacity=1)
        self.busy_s = 0.0
        self.bytes_moved = 0.0

    def send(self, nbytes: float, exposed_s: float):
        """Occupy the link for the exposed part of a gather (the rest hid under compute)."""
        with self.port.request() as req:
            yield req
            yield self.env.timeout(exposed_s)
        self.busy_s += nbytes / self.spec.bytes_per_s
        self.bytes_moved += nbytes

    def state(self) -> dict[str, float]:
        return {"bandwidth_gbit_s": self.spec.bandwidth_gbit_s, "busy_s": self.busy_s,
                "bytes_moved": self.bytes_moved, "in_use": self.port.count,
                "energy_j": self.bytes_moved * self.spec.pj_per_byte * 1e-12}
