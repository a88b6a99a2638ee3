"""Compute engines: cycle counts of one matmul, checked against hand counts of tiles, passes and waves."""

from __future__ import annotations

import pytest

from twin.catalog import Catalog, load_model, load_server
from twin.config import ClusterSpec
from twin.hw.engines import MacTreeArray, SystolicArray, TensorCores, engine_from_dict
from twin.errors import InvalidSpec
from twin.quant import QuantPolicy
from twin.serving.cost import CostModel, StepShape
from twin.serving.request import TraceRequest
from twin.sim import Simulation

SXE = MacTreeArray("sxe", trees=32, lanes=64, clock_ghz=1.0, psum_tokens=64, pipeline_depth_cycles=16)


def test_gemv_streams_one_tile_per_cycle() -> None:
    # 4096 x 4096: 128 columns of 32 outputs x 64 rows of 64 inputs = 8192 tiles, one per cycle, one fill.
    assert SXE.cycles(1, 4096, 4096) == 8192 + 16


def test_prefill_pays_one_drain_per_column_and_token_group() -> None:
    # 1000 tokens in ceil(1000/64) = 16 groups; each of the 128 columns streams 64 rows x 1000 tokens.
    assert SXE.cycles(1000, 4096, 4096) == 128 * (64 * 1000 + 16 * 16)


def test_tile_edges_cost_whole_tiles() -> None:
    # 33 outputs need two 32-wide columns; 65 inputs need two 64-deep rows.
    assert SXE.cycles(1, 65, 33) == 2 * 2 + 16


def test_systolic_fill_and_drain_per_tile() -> None:
    array = SystolicArray("sa", rows=128, cols=64, clock_ghz=1.0)
    assert array.cycles(1000, 4096, 4096) == (32 * 64) * (1000 + 128 + 64 - 2)
    assert array.cycles(1, 4096, 4096) == 2048 * 191  # one token still pays the fill and drain of every tile
    assert array.cycles(1, 4096, 4096) > 40 * SXE.cycles(1, 4096, 4096)


def test_tensor_cores_quantise_into_waves() -> None:
    tc = TensorCores("tc", units=132, macs_per_unit_cycle=2048, clock_ghz=1.83)
    # 512 x 4096 output: 4 x 32 = 128 tiles of 128 x 128, one wave on 132 SMs; 133+ tiles take two.
    assert tc.cycles(512, 4096, 4096) == 128 * 128 * 4096 / 2048
    assert tc.cycles(512, 4096, 4224) == 128 * 128 * 4096 / 2048  # 132 tiles: still one wave
    assert tc.cycles(512, 4096, 4352) == 2 * 128 * 128 * 4096 / 2048
    assert tc.cycles(1, 4096, 4096) == 16 * 128 * 4096 / 2048  # one token still fills a 16-row MMA tile


def test_prefill_mac_utilisation_is_below_peak_and_stated() -> None:
    cost = CostModel(load_model("llama2-7b"), load_server("lpu-8x-4nm"), 1, QuantPolicy())
    layer = cost.layer(StepShape(prefill_tokens=1000, prefill_pairs=1000 * 500.5, outputs=1))
    assert layer.macs / cost.macs_per_s < layer.compute_s
    sim = Simulation(ClusterSpec(load_server("lpu-8x-4nm"), tp=1, replicas=1), load_model("llama2-7b"))
    sim.submit(TraceRequest(0, 0.0, 1000, 2))
    sim.run()
    st = sim.replicas[0].stats
    assert 0.5 < st.prefill_macs / sim.cluster.server.chip.macs_per_s / st.prefill_busy_s < 1.0


def test_the_cost_model_picks_the_fastest_engine_per_matmul() -> None:
    server = Catalog().server("lpu-systolic-8x-4nm")
    cost = CostModel(load_model("llama2-7b"), server, 8, QuantPolicy())
    assert cost.engine_of(1) == "sxe" and cost.engine_of(2048) == "systolic"
    k, n = 4096, 11008 * 2 / 8
    assert cost.matmul_s(2048, k, n) == min(2048 * 0 + SXE.cycles(2048, k, n) / 1e9,
                                            SystolicArray("s", 128, 64, 1.0).cycles(2048, k, n) / 1e9)


@pytest.mark.parametrize("data, field", [({"type": "warp-drive"}, "type"),
                                         ({"type": "systolic", "name": "s", "rows": 0, "cols": 8, "clock_ghz": 1},
                                          "rows"),
                                         ({"type": "systolic", "rows": 8, "cols": 8, "clock_ghz": 1, "x": 1}, "x")])
def test_bad_engines_are_refused_naming_the_field(data: dict, field: str) -> None:
    with pytest.raises(InvalidSpec, match=rf"engines\[0\]\.{field}"):
        engine_from_dict(data, "engines[0]")


def _isolated_requests(server: str) -> list:
    """Prefill-heavy requests far enough apart that none waits for another (TTFT is prefill time)."""
    sim = Simulation(ClusterSpec(Catalog().server(server), tp=8, replicas=1), load_model("llama2-7b"))
    for i in range(6):
        sim.submit(TraceRequest(i, 5.0 * i, 1500 + 100 * i, 64))
    sim.run()
    return sorted(sim.recorder.requests, key=lambda r: r.request_id)


def test_a_prefill_systolic_array_cuts_ttft_without_changing_tpot() -> None:
    base, hetero = _isolated_requests("lpu-8x-4nm"), _isolated_requests("lpu-systolic-8x-4nm")
    for a, b in zip(base, hetero):
        assert b.ttft_s < 0.5 * a.ttft_s  # ~4x the prefill MACs at similar utilisation
        assert b.tpot_s == pytest.approx(a.tpot_s, rel=1e-9)  # decode stays on the MAC trees
