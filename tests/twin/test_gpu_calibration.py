"""The GPU baselines against the one-H100 column of LPU Fig. 7(a) and the H100 powers of LPU Figs. 2/7.

Fitted (twin/catalog/calibration.yaml): the per-kernel launch cost, the GEMV kernels' share of HBM
peak and the framework's per-step cost (latency); the energy per streamed byte (power). Achieved:
latency within 3.5 %, power within 4.6 % (3.3 / 4.7 % when fitted; the matmul kernels' refit on Vidur's
measurements moved them); the tolerances below are 5 and 7 %. Everything else about
GPUs (other counts, models, batches, the A100) is predicted from the datasheets.
"""

from __future__ import annotations

import pytest

from twin.catalog import load_model, load_server
from twin.config import ClusterSpec
from twin.energy import PJ
from twin.serving.request import TraceRequest
from twin.sim import Simulation

H100_MS_PER_TOKEN = {"opt-1.3b": 2.7, "opt-6.7b": 7.6, "opt-13b": 12.8, "opt-30b": 25.6}
H100_POWER_W = {"opt-1.3b": 226, "opt-6.7b": 381, "opt-13b": 431, "opt-30b": 502}


def one_gpu(model: str, server: str = "h100x1") -> Simulation:
    sim = Simulation(ClusterSpec(load_server(server), tp=1, replicas=1), load_model(model))
    sim.submit(TraceRequest(0, 0.0, 32, 2016))
    sim.run()
    return sim


@pytest.mark.parametrize("model", H100_MS_PER_TOKEN)
def test_one_h100_decode_latency(model: str) -> None:
    (rec,) = one_gpu(model).recorder.requests
    assert rec.tpot_s * 1e3 == pytest.approx(H100_MS_PER_TOKEN[model], rel=0.05)


@pytest.mark.parametrize("model", H100_POWER_W)
def test_one_h100_board_power(model: str) -> None:
    """Board power = the GPU's static draw + MAC and HBM energy over the run (the host is not on the board)."""
    sim = one_gpu(model)
    chip, stats, span = sim.cluster.server.chip, sim.replicas[0].stats, sim.now_s
    energy = chip.energy.static_w * span + (stats.macs * chip.energy.pj_per_mac
                                            + stats.mem_bytes * chip.energy.pj_per_mem_byte) * PJ
    assert energy / span == pytest.approx(H100_POWER_W[model], rel=0.07)


def test_small_models_are_launch_bound_large_ones_bandwidth_bound() -> None:
    """The published utilisation rises with size (28.6 % -> 69.9 %): per-layer launches weigh less."""
    def util(model: str) -> float:
        sim = one_gpu(model)
        m = sim.model
        weights = 2 * (m.layers * m.layer_params + m.head_params)
        return weights / (sim.recorder.requests[0].tpot_s * sim.cluster.server.chip.memory.peak_bytes_per_s)
    small, large = util("opt-1.3b"), util("opt-30b")
    assert small < 0.4 < 0.6 < large < 0.8


def test_a100_is_slower_than_h100_by_about_its_bandwidth() -> None:
    """Predicted, not fitted: decode of a large model scales with HBM bandwidth (2.04 vs 3.35 TB/s)."""
    a100 = one_gpu("opt-30b", "a100x1").recorder.requests[0].tpot_s
    h100 = one_gpu("opt-30b").recorder.requests[0].tpot_s
    assert 1.3 < a100 / h100 < 3.35 / 2.039


def test_two_h100s_all_reduce_over_nvlink() -> None:
    """Tensor parallelism on two GPUs halves the streamed bytes but adds all-reduces: 1.2-2x faster."""
    model = load_model("opt-30b")
    one = one_gpu("opt-30b").recorder.requests[0].tpot_s
    sim = Simulation(ClusterSpec(load_server("h100x2"), tp=2, replicas=1), model)
    sim.submit(TraceRequest(0, 0.0, 32, 2016))
    sim.run()
    two = sim.recorder.requests[0].tpot_s
    assert sim.replicas[0].stats.esl_bytes > 0
    assert 1.2 < one / two < 2.0
