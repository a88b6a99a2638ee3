"""Device memory: channels as a SimPy container of channel tokens, capacity as bytes.

The SMA stripes a layer's weights and KV over every channel, so a layer stream takes
all channels for its duration; a swap or a host transfer takes a few. Both wait for
the channels they need, which is where contention shows in `layer` fidelity.
"""

from __future__ import annotations

import simpy

from twin.config import MemorySpec


class Hbm:
    def __init__(self, env: simpy.Environment, spec: MemorySpec, name: str):
        self.env, self.spec, self.name = env, spec, name
        self.channels = simpy.Container(env, capacity=spec.channels, init=spec.channels)
        self.busy_s = 0.0
        self.bytes_moved = 0.0

    def stream(self, nbytes: float, duration_s: float, channels: int | None = None):
        """Hold `channels` (default: all) for `duration_s` while `nbytes` move."""
        n = channels or self.spec.channels
        yield self.channels.get(n)
        yield self.env.timeout(duration_s)
        yield self.channels.put(n)
        self.busy_s += duration_s * n / self.spec.channels
        self.bytes_moved += nbytes

    def state(self) -> dict[str, float]:
        return {"channels": self.spec.channels, "channels_free": self.channels.level,
                "capacity_bytes": self.spec.capacity_bytes, "bytes_moved": self.bytes_moved,
                "busy_s": self.busy_s}
