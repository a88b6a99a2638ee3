"""A heterogeneous disaggregated deployment (H100 prefill pool beside an LPU decode pool) reports each pool on
its own hardware, and totals that add both up.

Every expected figure here is derived from the catalogue YAML (read as plain YAML, not through the twin),
the published die areas, or the trace itself, never from the code under test. Before pools were first-class,
this run reported a 3,621 % prefill MAC utilisation (H100 work over an LPU's peak), a decode engine of
tensor cores, 16 LPU dies of area and LPU-only energy.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from twin.config import ServingConfig
from twin.replay import RunSpec, replay
from twin.traces import TraceOptions, load_trace

CATALOG = Path(__file__).resolve().parents[2] / "twin" / "catalog"
LPU_PUBLISHED_MM2 = 0.824  # LPU ASIC, 32 trees of 64 lanes, 4 nm (reference §1.2)
AREA_FIT_RESIDUAL = 0.006  # the per-unit area model's worst residual on the three published LPUs


def entry(kind: str, name: str) -> dict:
    return yaml.safe_load((CATALOG / kind / f"{name}.yaml").read_text())


@pytest.fixture(scope="module")
def run():
    """(requests, summary, simulation) of 300 conversation requests."""
    spec = RunSpec("lpu-8x-4nm", "llama2-7b", servers=2, tp=8,
                   serving=ServingConfig(pd="1:1", prefill_server="dgx-h100"))
    requests = load_trace("azure-conv-2023", TraceOptions(limit=300)).requests
    sim = spec.build()
    result = replay(sim, requests)
    assert result.status == "complete"
    return requests, result.summary, sim


def test_each_pool_names_its_own_hardware(run) -> None:
    _, s, _ = run
    pools = s["hardware"]["pools"]
    assert (pools["prefill"]["server"], pools["prefill"]["chip"]) == ("dgx-h100", "h100-sxm")
    assert (pools["decode"]["server"], pools["decode"]["chip"]) == ("lpu-8x-4nm", "lpu-asic-3280")
    assert (pools["prefill"]["prefill_engine"], pools["decode"]["decode_engine"]) == ("tensor-cores", "sxe")
    assert (s["hardware"]["prefill_engine"], s["hardware"]["decode_engine"]) == ("tensor-cores", "sxe")
    assert set(s["hardware"]["engines"]) == {"tensor-cores", "sxe"}
    assert pools["prefill"]["interconnect"]["kind"] == "NVLink"
    assert pools["decode"]["interconnect"]["kind"] == "ESL ring"
    assert [d["server"] for d in s["twin"]["deployment"]] == ["dgx-h100", "lpu-8x-4nm"]


def test_utilisations_are_fractions_and_exposed_never_exceeds_busy(run) -> None:
    _, s, _ = run
    for figures in (s["hardware"], *s["hardware"]["pools"].values()):
        for key in ("hbm_bandwidth_util", "hbm_bandwidth_util_busy", "mac_util", "mac_util_busy", "prefill_mac_util"):
            assert 0.0 <= figures[key] <= 1.0, (figures.get("role", "total"), key, figures[key])
    for pool in s["hardware"]["pools"].values():
        link = pool["interconnect"]
        assert link["exposed_s_per_chip"] <= link["busy_s_per_chip"]
        assert link["transfer_s_per_chip"] <= link["busy_s_per_chip"]
    assert s["hardware"]["link_exposed_s_per_chip"] <= s["hardware"]["link_busy_s_per_chip"]


def test_work_is_where_the_trace_puts_it(run) -> None:
    """Prompt tokens are prefilled on the H100s, output tokens after the first decoded on the LPUs; the
    prefill pool's MACs are at least the weights' MACs for every prompt token (Llama-2-7B's dimensions)."""
    requests, s, sim = run
    model = entry("models", "llama2-7b")
    admitted = [r for r in requests if r.input_tokens + r.output_tokens <= model["max_context"]]
    assert s["requests"]["rejected"] == len(requests) - len(admitted)
    pools = s["hardware"]["pools"]
    assert pools["prefill"]["prefill_tokens"] == sum(r.input_tokens for r in admitted)
    assert pools["prefill"]["decode_tokens"] == 0 and pools["decode"]["prefill_tokens"] == 0
    assert pools["decode"]["decode_tokens"] == sum(r.output_tokens - 1 for r in admitted)
    h, f, layers = model["hidden"], model["ffn"], model["layers"]
    weight_macs_per_token = layers * (4 * h * h + model["ffn_matrices"] * h * f)  # q, k, v, o; gate, up, down
    floor = weight_macs_per_token * sum(r.input_tokens for r in admitted)
    (prefill,) = sim.pools[0].replicas
    done = prefill.stats.prefill_macs * 8  # per chip, over the tp=8 replica
    # attention adds (prompt length / (4h + 3 ffn)) of the weights' MACs, under 9 % at 4k tokens
    assert floor <= done <= 1.09 * floor
    h100 = entry("chips", "h100-sxm")
    engine = h100["engines"][0]
    peak = engine["units"] * engine["macs_per_unit_cycle"] * engine["clock_ghz"] * 1e9  # the H100's, not an LPU's
    assert pools["prefill"]["prefill_mac_util"] == pytest.approx(
        prefill.stats.prefill_macs / (prefill.stats.prefill_busy_s * peak), rel=1e-9)


def test_static_power_counts_every_chip_and_host_of_both_pools(run) -> None:
    _, s, _ = run
    h100, lpu = entry("chips", "h100-sxm"), entry("chips", "lpu-asic-3280")
    dgx, lpu_server = entry("servers", "dgx-h100"), entry("servers", "lpu-8x-4nm")
    h100_w = dgx["chips"] * (h100["energy"]["static_w"] + h100["memory"]["stacks"] *
                             h100["energy"]["memory_static_w_per_stack"]) + dgx["host"]["power_w"]
    lpu_w = 2 * (lpu_server["chips"] * (lpu["energy"]["static_w"] + lpu["memory"]["stacks"] *
                                        lpu["energy"]["memory_static_w_per_stack"]) + lpu_server["host"]["power_w"])
    e = s["energy"]
    assert e["static_power_w"] == pytest.approx(h100_w + lpu_w, rel=1e-12)
    assert e["pools"]["prefill"]["static_power_w"] == pytest.approx(h100_w, rel=1e-12)
    host_w = dgx["host"]["power_w"] + 2 * lpu_server["host"]["power_w"]
    assert e["host_j"] == pytest.approx(host_w * s["makespan_s"], rel=1e-12)
    assert e["device_j"] + e["host_j"] == pytest.approx(e["energy_j"], rel=1e-12)
    assert e["energy_j"] >= e["static_power_w"] * s["makespan_s"]
    parts = sum(p["energy_j"] for p in e["pools"].values()) + sum(e.get("idle", {}).values())
    assert parts == pytest.approx(e["energy_j"], rel=1e-12)


def lpu_uncore_mm2() -> float:
    """The LPU ASIC's uncore, by hand from the published block estimates (not through twin.area): four HBM
    stacks of a 10.45 mm² PHY and a 552.7 M-transistor controller (LLMCompass, ISCA 2024) at 138.2 MTr/mm²,
    two ESL ports of 400 Gbit/s in 4 lanes of 0.22 mm² (113 Gb/s PAM-4 in 5 nm, SSC-L 2025), and PCIe Gen5
    x16 for 50 GB/s (0.64 mm² and 5.37 M transistors per lane, LLMCompass)."""
    return 4 * (10.45 + 552.7 / 138.2) + 2 * 4 * 0.22 + 16 * (0.64 + 5.37 / 138.2)


def test_area_counts_whole_dies_of_both_pools(run) -> None:
    _, s, _ = run
    a = s["area"]
    h100_total = 8 * entry("chips", "h100-sxm")["die_area_mm2"]
    assert a["pools"]["prefill"]["total_mm2"] == pytest.approx(h100_total, rel=1e-12)
    assert a["pools"]["prefill"]["source"] == "published whole die"
    lpu_total = a["total_mm2"] - h100_total  # both LPU servers' dies: the decode pool's and the idle one's
    assert lpu_total == pytest.approx(16 * (LPU_PUBLISHED_MM2 + lpu_uncore_mm2()), rel=1e-3)
    decode = a["pools"]["decode"]
    assert decode["core_mm2_per_chip"] == pytest.approx(LPU_PUBLISHED_MM2, rel=AREA_FIT_RESIDUAL)
    assert sum(decode["uncore_mm2_per_chip"].values()) == pytest.approx(lpu_uncore_mm2(), rel=1e-12)
    assert a["chips"] == 8 + 16
    assert a["output_tok_s_per_mm2"] == pytest.approx(s["throughput"]["output_tokens_per_s"] / a["total_mm2"])
