"""Power and energy: static power plus dynamic energy where the work is accounted.

Every chip draws its static power (logic leakage, clocks) and each memory stack its own
(refresh, PHY) for the whole run, busy or not; each MAC, each byte read from or written to
device memory and each byte sent over a chip-to-chip link costs a fixed energy; each host
draws a constant power. The replicas already count MACs, memory bytes and link bytes per chip
(both fidelities count the same), so both fidelities report the same joules.

Peak power is the static floor plus, for every replica, the dynamic power of its most
power-hungry step: what the cluster draws if every replica hits its peak at once (the figure
one provisions for). Figures and their sources are in each chip's YAML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

from twin.errors import InvalidSpec

PJ = 1e-12


@dataclass(frozen=True)
class EnergySpec:
    """A chip's power figures (per chip; memory per stack or package)."""

    static_w: float  # chip logic, always on
    memory_static_w_per_stack: float  # per HBM stack / LPDDR package, always on
    pj_per_mac: float  # one multiply-accumulate on a compute engine
    pj_per_mem_byte: float  # one byte read from or written to device memory, delivered to the engines

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and value >= 0 and math.isfinite(value)):
                raise InvalidSpec(f.name, f"must be a number >= 0, got {value!r}")



def energy_from_dict(data: Any, where: str, calibration: Mapping[str, Any] | None = None) -> EnergySpec | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise InvalidSpec(where, "must be a mapping of energy figures")
    table = (calibration or {}).get("energy", {})
    values = {}
    for key, value in data.items():
        if isinstance(value, str) and value.startswith("calibrated"):
            wanted = value.partition(":")[2] or key
            if wanted not in table:
                raise InvalidSpec(f"{where}.{key}", f"no calibrated energy value {wanted!r}")
            value = table[wanted]
        values[key] = value
    from twin.config import build_spec
    return build_spec(EnergySpec, values, where)


def dynamic_j(spec: EnergySpec, link_pj: float, macs: float, mem_bytes: float, link_bytes: float) -> dict[str, float]:
    """The energy (J) of this much work: MACs, device-memory bytes and link bytes."""
    return {"compute_j": macs * spec.pj_per_mac * PJ, "memory_access_j": mem_bytes * spec.pj_per_mem_byte * PJ,
            "link_j": link_bytes * link_pj * PJ}


def unit_joules(spec: EnergySpec | None, link_pj: float) -> tuple[float, float, float]:
    """Joules per MAC, per device-memory byte and per link byte (dynamic_j is linear in each)."""
    if spec is None:
        return 0.0, 0.0, 0.0
    return tuple(sum(dynamic_j(spec, link_pj, *unit).values()) for unit in ((1, 0, 0), (0, 1, 0), (0, 0, 1)))


def static_power_w(cluster, chips: float | None = None, hosts: float | None = None) -> dict[str, float]:
    """The always-on draw of `chips` chips of `cluster`'s type (a ClusterSpec), their memory stacks, and `hosts`
    hosts; by default every chip and host of the cluster. Run energy is built per pool on it (twin.pool_result)."""
    server = cluster.server
    chips = cluster.servers * server.chips if chips is None else chips
    hosts = cluster.servers if hosts is None else hosts
    spec = server.chip.energy
    return {"chips": chips * spec.static_w if spec else 0.0,
            "memory": chips * server.chip.memory.stacks * spec.memory_static_w_per_stack if spec else 0.0,
            "host": hosts * server.host.power_w}


def full_load_power_w(chip) -> float | None:
    """A chip's draw with every MAC busy and its memory streaming at peak: how datasheet powers are quoted."""
    spec = chip.energy
    if spec is None:
        return None
    return (spec.static_w + chip.memory.stacks * spec.memory_static_w_per_stack
            + chip.macs_per_s * spec.pj_per_mac * PJ + chip.memory.peak_bytes_per_s * spec.pj_per_mem_byte * PJ)
