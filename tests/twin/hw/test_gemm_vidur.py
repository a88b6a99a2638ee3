"""GPU matmul kernels against measured times: Vidur's profiled linear layers (excerpt in vidur_gemm.csv).

The tensor-core parameters (mma_efficiency, kernel_tail_s, split_k_overhead_s per GPU) were fitted on
all of Vidur's A100 and H100 mlp.csv rows (bench/bench_gemm.py --vidur); the excerpt here is 56 of
them, QKV / O / FC1 / FC2 of Llama-2-7B at tp 1 and Llama-2-70B at tp 8. Bounds: the median error
reached on the excerpt per GPU and shape class, plus one point.
"""

from __future__ import annotations

import importlib.util
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from twin.catalog import load_chip
from twin.hw.engines import TensorCores

_spec = importlib.util.spec_from_file_location("bench_gemm", Path(__file__).parents[3] / "bench" / "bench_gemm.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

MEDIAN_BOUND = {("a100", "decode"): 0.058, ("a100", "mid-tp"): 0.065, ("a100", "prefill"): 0.032,
                ("h100", "decode"): 0.092, ("h100", "mid-tp"): 0.040, ("h100", "prefill"): 0.146}


@pytest.fixture(scope="module")
def errs() -> dict:
    return bench.errors(bench.excerpt_rows())


def test_every_class_of_the_excerpt_is_covered(errs) -> None:
    assert set(errs) == set(MEDIAN_BOUND)


@pytest.mark.parametrize("key", sorted(MEDIAN_BOUND))
def test_median_error_per_shape_class(errs, key) -> None:
    assert statistics.median(abs(e) for e in errs[key]) <= MEDIAN_BOUND[key]


def test_the_dense_peak_alone_was_far_off_on_the_same_rows() -> None:
    """The old price (dense peak, waves only, no kernel fill) is 23-34 % fast on these prefills."""
    chips = {gpu: load_chip(name) for gpu, name in bench.CHIPS.items()}
    peak = {gpu: replace(c, engines=(TensorCores("tc", c.compute_engines[0].units,
                                                 c.compute_engines[0].macs_per_unit_cycle,
                                                 c.compute_engines[0].clock_ghz),)) for gpu, c in chips.items()}
    old = bench.errors(bench.excerpt_rows(), peak)
    for gpu in bench.CHIPS:
        assert statistics.median(old[gpu, "prefill"]) < -0.2


def test_split_k_fills_idle_sms_for_few_tiles() -> None:
    """16 tokens x 1,280 outputs is 10 tiles on 132 SMs: K = 8,192 splits in 4 slices of 2,048 each."""
    h100 = load_chip("h100-sxm").compute_engines[0]
    unsplit = replace(h100, split_k_min_depth=0)
    assert h100._split(10, 8192) == 4
    fix_up = h100.split_k_overhead_s * h100.clock_ghz * 1e9
    assert h100.cycles(16, 8192, 1280) == pytest.approx(unsplit.cycles(16, 8192, 1280) / 4 + fix_up)
    assert h100._split(10, 3000) == 1 and h100._split(132, 8192) == 1  # too shallow; SMs already full


def test_row_parallel_gpu_shards_and_column_parallel_esl() -> None:
    """GPUs all-reduce after O and FC2 (Megatron): K is split there; ESL gathers, so N is split everywhere."""
    from twin.catalog import load_model, load_server
    from twin.quant import QuantPolicy
    from twin.serving.cost import CostModel
    model = load_model("llama2-70b")
    gpu = CostModel(model, load_server("dgx-h100"), 8, QuantPolicy()).matmul_shapes(128)
    lpu = CostModel(model, load_server("lpu-8x-4nm"), 8, QuantPolicy()).matmul_shapes(128)
    assert gpu[3][2:] == (model.ffn / 8, model.hidden) and lpu[3][2:] == (model.ffn, model.hidden / 8)
    assert gpu[0] == lpu[0] and gpu[2] == lpu[2]
