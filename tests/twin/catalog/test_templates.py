"""ADOR templates: three catalogue chips (MAC trees, a systolic array, both) whose area and power follow their
sizes through the twin's models, with servers whose `template:` lists the fields a search varies. Expected
areas and powers are computed here from calibration.yaml and the chips' YAML read as plain YAML."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from twin.area import die_area_mm2, whole_die_mm2
from twin.capacity import compute_word
from twin.catalog import default_catalog, template_space
from twin.errors import InvalidSpec
from twin.explore.design import design_figures
from twin.explore.space import parse_space

CATALOG = resources.files("twin") / "catalog"
CAL = yaml.safe_load((CATALOG / "calibration.yaml").read_text())
AREA = CAL["area"]


def _yaml(kind: str, name: str) -> dict:
    return yaml.safe_load((CATALOG / kind / f"{name}.yaml").read_text())


def _server(name: str, **overrides):
    return default_catalog().server(name, overrides)


def core_mm2(trees: int, lanes: int, sram_kb: float, pes: int = 0) -> float:
    """The per-unit model by hand: fixed part, SXE lanes, SRAM off the LPU's rule, systolic PEs."""
    n = trees * lanes
    return (AREA["fixed_mm2"] + AREA["mm2_per_lane"] * n
            + (sram_kb - AREA["sram_kb_fixed"] - AREA["sram_kb_per_lane"] * n) * AREA["sram_mm2_per_kb"]
            + pes * AREA["mm2_per_lane"] * AREA["systolic_pe_factor"])


@pytest.mark.parametrize("server, trees, pes", [("ador-mactree-8x", 64, 0), ("ador-systolic-8x", 0, 256 * 128),
                                                ("ador-hybrid-8x", 64, 256 * 128)])
def test_area_and_leakage_follow_the_templates_size(server, trees, pes) -> None:
    chip_yaml = _yaml("chips", _yaml("servers", server)["chip"])
    sizes = {"chip.sram_kb": 2048}
    if trees:
        sizes["chip.mac_trees"] = trees
    if pes:
        sizes.update({"chip.engines.systolic.rows": 256, "chip.engines.systolic.cols": 128})
    chip = _server(server, **sizes).chip
    expected = core_mm2(trees, chip_yaml["lanes"] if trees else 0, 2048, pes)
    assert die_area_mm2(chip) == pytest.approx(expected, rel=1e-12)
    assert chip.energy.static_w == pytest.approx(chip_yaml["energy"]["static_w_per_mm2"] * expected, rel=1e-12)
    small = _server(server).chip  # the template as written: a smaller core leaks less
    assert die_area_mm2(small) < die_area_mm2(chip) and small.energy.static_w < chip.energy.static_w


def test_chip_power_and_die_of_a_resized_template() -> None:
    server = _server("ador-mactree-8x", **{"chip.mac_trees": 48, "chip.lanes": 128, "chip.memory.stacks": 6,
                                          "chip.clock_ghz": 1.5})
    raw = _yaml("chips", "ador-mactree")
    energy = raw["energy"]
    leakage = energy["static_w_per_mm2"] * core_mm2(48, 128, raw["sram_kb"])
    macs_per_s = 48 * 128 * 1.5e9
    bytes_per_s = 6 * raw["memory"]["bandwidth_per_stack_gbps"] * 1e9
    power = (leakage + 6 * energy["memory_static_w_per_stack"] + macs_per_s * energy["pj_per_mac"] * 1e-12
             + bytes_per_s * CAL["energy"]["hbm3_pj_per_byte"] * 1e-12)
    figures = design_figures(server)
    assert figures["chip_power_w"] == pytest.approx(power, rel=1e-12)
    uncore = AREA["uncore"]
    hbm = 6 * (uncore["hbm_phy_mm2_per_stack"] + uncore["hbm_controller_mtr_per_stack"] / uncore["logic_mtr_per_mm2"])
    assert figures["die_mm2"] == pytest.approx(whole_die_mm2(server.chip, server)[0], rel=1e-12)
    assert figures["die_mm2"] - core_mm2(48, 128, raw["sram_kb"]) > hbm  # the uncore: HBM PHYs and more


def test_the_systolic_engine_runs_at_the_chips_clock_and_is_named_as_compute() -> None:
    chip = _server("ador-hybrid-8x", **{"chip.clock_ghz": 1.5}).chip
    assert chip.clock_ghz == 1.5 and chip.engines[0].clock_ghz == 1.5
    systolic = _server("ador-systolic-8x").chip
    assert systolic.mac_trees == 0 and compute_word(systolic) == "compute (systolic array)"
    fixed = default_catalog().chip("lpu-systolic-4nm")  # an engine with its own clock keeps it
    assert fixed.engines[0].clock_ghz == 1.0


def test_an_engine_field_is_set_by_the_engines_name() -> None:
    chip = _server("ador-hybrid-8x", **{"chip.engines.systolic.rows": 32}).chip
    assert chip.engines[0].rows == 32 and chip.engines[0].cols == _yaml("chips", "ador-hybrid")["engines"][0]["cols"]
    with pytest.raises(InvalidSpec, match="engines.NAME.FIELD names one of engines: systolic"):
        _server("ador-hybrid-8x", **{"chip.engines.tensor.rows": 32})


@pytest.mark.parametrize("server", ["ador-mactree-8x", "ador-systolic-8x", "ador-hybrid-8x"])
def test_each_template_lists_its_search_space(server) -> None:
    raw = _yaml("servers", server)
    space = template_space(raw, server)
    assert space == {k: str(v) for k, v in raw["template"].items()} and len(space) >= 5
    dims = [parse_space(f"{k}={v}") for k, v in space.items()]
    assert {"chip.sram_kb", "chip.memory.stacks", "chip.clock_ghz"} <= {d.field for d in dims}
    for d in dims:  # every end of every range builds a chip (sizes a template cannot take would fail here)
        for value in (d.choices if d.kind == "choice" else (d.low, d.high)):
            _server(server, **{d.field: value})


def test_a_broken_template_is_refused_naming_it() -> None:
    with pytest.raises(InvalidSpec, match="template"):
        template_space({"template": ["chip.mac_trees"]}, "my-server")
    assert template_space({"name": "plain"}, "plain") == {}
