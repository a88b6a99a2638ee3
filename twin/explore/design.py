"""A design's own figures, before any run: one chip's whole die and its full-load power.

These are what an ADOR-style search holds a chip design to (an area and a power budget per chip),
from the twin's models: the die from twin.area (published, or the per-unit model plus the uncore)
and the power from twin.energy (every MAC busy, memory streaming at peak: how datasheets quote it).
A run's own figures (total_mm2 of every die, average and peak power) come from its summary.
"""

from __future__ import annotations

from twin.area import whole_die_mm2
from twin.config import ServerSpec
from twin.energy import full_load_power_w

# the hardware figure each budget bounds, and what it is called in a report
BUDGETS = {"total_mm2": "area", "die_mm2": "die area", "chip_power_w": "chip power", "peak_power_w": "peak power",
           "avg_power_w": "average power"}


def design_figures(server: ServerSpec) -> dict[str, float]:
    """`die_mm2` and `chip_power_w` of the server's chip, where the twin's models give them."""
    die, _ = whole_die_mm2(server.chip, server)
    power = full_load_power_w(server.chip)
    return {k: v for k, v in (("die_mm2", die), ("chip_power_w", power)) if v is not None}


def limiting_budget(figures: dict, constraints) -> tuple[str, float, float, float] | None:
    """The budget (an upper bound on a hardware figure) the design uses most of, as (figure, value, bound,
    share used); None when no budget bounds it. The budget a better design would break first."""
    uses = [(c.figure, figures[c.figure], c.bound, figures[c.figure] / c.bound) for c in constraints
            if c.op == "<=" and c.figure in BUDGETS and figures.get(c.figure) is not None and c.bound > 0]
    return max(uses, key=lambda u: u[3]) if uses else None
