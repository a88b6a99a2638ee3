"""The server's host: CPU step overhead and PCIe DMA to each chip (prompts in, tokens and swaps)."""

from __future__ import annotations

import simpy

from twin.config import HostSpec


class Host:
    def __init__(self, env: simpy.Environment, spec: HostSpec, chips: int, name: str):
        self.env, self.spec, self.name = env, spec, name
        self.pcie = [simpy.Resource(env, capacity=1) for _ in range(chips)]
        self.cpu_busy_s = 0.0
        self.pcie_bytes = 0.0

    def schedule_step(self) -> float:
        """Count the CPU's scheduling of one step; the chips start its layers this many seconds later."""
        self.cpu_busy_s += self.spec.step_overhead_s
        return self.spec.step_overhead_s

    def transfer(self, chip: int, nbytes: float):
        """DMA `nbytes` between host memory and one chip over its PCIe link."""
        with self.pcie[chip].request() as req:
            yield req
            yield self.env.timeout(nbytes / self.spec.pcie_bytes_per_s + self.spec.pcie_latency_s)
        self.pcie_bytes += nbytes

    def state(self) -> dict[str, float]:
        return {"cpu": self.spec.cpu, "memory_gb": self.spec.memory_gb, "cpu_busy_s": self.cpu_busy_s,
                "pcie_bytes": self.pcie_bytes, "power_w": self.spec.power_w,
                "energy_j": self.spec.power_w * self.env.now}
