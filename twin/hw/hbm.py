"""Device memory: channels as a SimPy container of channel tokens, capacity as bytes.

The SMA stripes a layer's weights and KV over every channel, so a layer stream takes
all channels for its duration; a swap or a host transfer takes a few. Both wait for
the channels they need, which is where contention shows in `layer` fidelity. The chip
walks its layers in closed form while nothing else uses the channels (`twin.hw.walk`):
anything else that streams tells the chip first (`owner.contend()`), so the walk holds the
channels, as events again, before the newcomer queues for them.
"""

from __future__ import annotations

import simpy

from twin.config import MemorySpec


class Hbm:
    def __init__(self, env: simpy.Environment, spec: MemorySpec, name: str, chip_energy=None):
        self.env, self.spec, self.name = env, spec, name
        self.chip_energy = chip_energy  # twin.energy.EnergySpec of the chip it belongs to, or None
        self.channels = simpy.Container(env, capacity=spec.channels, init=spec.channels)
        self.busy_s = 0.0
        self.bytes_moved = 0.0
        self.activity = None  # the replica's counters, which `step` fidelity keeps instead of events
        self.owner = None  # the twin.hw.chip.Chip whose layers stream here, walked in closed form at times

    def stream(self, nbytes: float, duration_s: float, channels: int | None = None):
        """Hold `channels` (default: all) for `duration_s` while `nbytes` move."""
        if self.owner is not None:
            self.owner.contend()
        yield from self.finish_stream(self.channels.get(channels or self.spec.channels), nbytes, duration_s)

    def finish_stream(self, got, nbytes: float, duration_s: float, left_s: float | None = None):
        """Hold the channels `got` asked for `left_s` more (default: all of `duration_s`), then count the stream."""
        yield got
        yield self.env.timeout(duration_s if left_s is None else left_s)
        yield self.channels.put(got.amount)
        self.count(nbytes, duration_s * got.amount / self.spec.channels)

    def count(self, nbytes: float, busy_s: float) -> None:
        self.busy_s += busy_s
        self.bytes_moved += nbytes

    def free_channels(self) -> int:
        walk = None if self.owner is None else self.owner.walk
        held = self.spec.channels if walk is not None and walk.streaming(self.env.now) else 0
        return self.channels.level - held

    def channel(self, index: int) -> "HbmChannel":
        return HbmChannel(self, index)

    def totals(self) -> tuple[float, float]:
        """(bytes moved, busy seconds), from events in `layer` fidelity or the replica's counters in `step`."""
        if self.owner is not None:
            self.owner.sync()
        if self.bytes_moved == 0 and self.activity is not None:
            return self.activity.mem_bytes, self.activity.mem_busy_s
        return self.bytes_moved, self.busy_s

    def state(self) -> dict[str, float]:
        moved, busy = self.totals()
        energy = self.chip_energy
        joules = {} if energy is None else {
            "static_j": energy.memory_static_w_per_stack * self.spec.stacks * self.env.now,
            "access_j": moved * energy.pj_per_mem_byte * 1e-12}
        return {"channels": self.spec.channels, "channels_free": self.free_channels(),
                "capacity_bytes": self.spec.capacity_bytes, "bytes_moved": moved, "busy_s": busy, **joules}


class HbmChannel:
    """A view of one channel: the SMA stripes every stream over all channels evenly."""

    def __init__(self, hbm: Hbm, index: int):
        self.hbm, self.index, self.name = hbm, index, f"{hbm.name}/ch{index}"

    def state(self) -> dict[str, float]:
        spec, n = self.hbm.spec, self.hbm.spec.channels
        moved, busy = self.hbm.totals()
        return {"channel": self.index, "bandwidth_bytes_per_s": spec.peak_bytes_per_s / n,
                "capacity_bytes": spec.capacity_bytes / n, "bytes_moved": moved / n,
                "busy_s": busy, "in_use": float(self.hbm.free_channels() < n)}
