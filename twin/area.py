"""Die area of a chip: published where the vendor states it, else a per-unit model of the LPU ASIC.

The three published LPU ASIC configurations (reference §1.2: 8 / 16 / 32 MAC trees of 64 lanes,
812 / 910 / 1107 KB SRAM, 1 / 2 / 4 HBM stacks, 0.548 / 0.646 / 0.824 mm² at 4 nm) scale trees,
SRAM and stacks together, so a fit can only separate a fixed part (ICP, VXE, interfaces, the
base of the LMU) from what grows per MAC lane (the SXE, plus the SRAM and SMA that grow with it):
`calibration.yaml` holds both, fitted by least squares. SRAM beyond the LPU's own sizing rule is
priced at an assumed 4 nm macro density, and a systolic-array PE as an SXE lane plus the registers
that forward its operands. The published areas cannot include HBM PHYs (one alone is larger), so
neither does that model: it is the compute core's logic and SRAM.

A whole die adds the uncore that a chip's memory, links and host interface need: HBM PHYs and
controllers per stack, ESL SerDes lanes for its ring ports, PCIe lanes for its host link. Those are
block estimates from published sources (calibration.yaml, `area.uncore`), not fitted. A GPU's published
area is already its whole die. Comparisons per mm² use whole dies.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from twin.config import ChipSpec
from twin.hw.engines import MacTreeArray, SystolicArray


def lpu_area_mm2(chip: ChipSpec, cal: Mapping[str, Any]) -> float:
    """The per-unit model of an LPU-like ASIC (MAC trees, SRAM, extra engines)."""
    lanes = chip.mac_trees * chip.lanes
    sram_rule_kb = cal["sram_kb_fixed"] + cal["sram_kb_per_lane"] * lanes  # what the published chips carry
    area = cal["fixed_mm2"] + cal["mm2_per_lane"] * lanes + (chip.sram_kb - sram_rule_kb) * cal["sram_mm2_per_kb"]
    for engine in chip.engines:
        if isinstance(engine, SystolicArray):
            area += engine.rows * engine.cols * cal["mm2_per_lane"] * cal["systolic_pe_factor"]
        elif isinstance(engine, MacTreeArray):
            area += engine.trees * engine.lanes * cal["mm2_per_lane"]
    return area


def modelled(chip: ChipSpec) -> bool:
    """An ASIC built of the units the per-unit model prices: MAC trees, systolic arrays (a GPU's tensor
    cores and an FPGA's fabric are not)."""
    return chip.kind == "asic" and (chip.mac_trees > 0 or any(isinstance(e, (MacTreeArray, SystolicArray))
                                                               for e in chip.engines))


def die_area_mm2(chip: ChipSpec) -> float | None:
    """Compute-die area of one chip (mm²), or None where it is neither published nor modelled."""
    if chip.die_area_mm2 is not None:
        return chip.die_area_mm2
    if not modelled(chip):
        return None  # an FPGA's die is the FPGA's, not the design's
    from twin.catalog import calibration
    return lpu_area_mm2(chip, calibration()["area"])


def uncore_mm2(chip: ChipSpec, server, cal: Mapping[str, Any] | None = None) -> dict[str, float] | None:
    """The modelled uncore of an LPU-like ASIC on `server` (a ServerSpec: its ring link and host link size
    the SerDes and PCIe), by block; None where the chip's area is published whole, or not modelled."""
    if chip.die_area_mm2 is not None or not modelled(chip):
        return None
    if not chip.memory.kind.startswith("hbm"):
        return None  # only HBM PHYs have a published estimate
    if cal is None:
        from twin.catalog import calibration
        cal = calibration()["area"]["uncore"]
    logic = cal["logic_mtr_per_mm2"]
    stacks = chip.memory.stacks
    esl_lanes = cal["esl_ports"] * math.ceil(server.link.bandwidth_gbit_s / cal["serdes_gbit_s_per_lane"])
    pcie_lanes = 2 ** math.ceil(math.log2(max(server.host.pcie_gbps / cal["pcie_gbyte_s_per_lane"], 1.0)))
    return {"hbm_phy_mm2": stacks * cal["hbm_phy_mm2_per_stack"],
            "memory_controller_mm2": stacks * cal["hbm_controller_mtr_per_stack"] / logic,
            "esl_serdes_mm2": esl_lanes * cal["serdes_mm2_per_lane"],
            "pcie_mm2": pcie_lanes * (cal["pcie_phy_mm2_per_lane"] + cal["pcie_controller_mtr_per_lane"] / logic)}


def whole_die_mm2(chip: ChipSpec, server) -> tuple[float | None, dict[str, float] | None]:
    """(whole die of one chip, its modelled uncore by block): published whole dies as given, else the
    compute core plus the uncore; (None, None) where neither is known (an FPGA)."""
    core = die_area_mm2(chip)
    uncore = uncore_mm2(chip, server)
    if core is None:
        return None, None
    return core + sum((uncore or {}).values()), uncore
