"""GPU matmul kernels against measured times: Vidur's profiled linear layers (vidur_gemm_all.csv.gz).

Every row of Vidur's A100 and H100 mlp.csv files (QKV / O / FC1 / FC2 of 7 models at tp 1-8) in the three
shape classes: 49,744 kernel times. The tensor-core parameters (mma_efficiency, split_k_overhead_s,
overlap_exposed, split_k_min_depth per GPU) were fitted on them; the weights stream at the share Vidur's
GEMV kernels were measured to sustain (the optimised stack). Bounds: the median reached per GPU and class,
rounded up by 0.3 points.
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

MEDIAN_BOUND = {("a100", "decode"): 0.043, ("a100", "mid-tp"): 0.104, ("a100", "prefill"): 0.055,
                ("h100", "decode"): 0.043, ("h100", "mid-tp"): 0.090, ("h100", "prefill"): 0.071}


@pytest.fixture(scope="module")
def rows() -> list:
    return bench.excerpt_rows()


@pytest.fixture(scope="module")
def errs(rows) -> dict:
    return bench.errors(rows)


def test_every_class_is_covered(rows, errs) -> None:
    assert set(errs) == set(MEDIAN_BOUND)
    assert len(rows) == 49744


@pytest.mark.parametrize("key", sorted(MEDIAN_BOUND))
def test_median_error_per_shape_class(errs, key) -> None:
    assert statistics.median(abs(e) for e in errs[key]) <= MEDIAN_BOUND[key]


def test_the_eager_stacks_h100_stream_share_triples_the_decode_error(rows, errs) -> None:
    """Vidur's kernels stream an H100's weights at 0.90 of peak: at the eager stack's 0.79 its decode rows are
    12.5 % slow (3.2 times the error)."""
    eager = {gpu: load_chip(name) for gpu, name in bench.CHIPS.items()}
    slow = bench.errors(rows, eager)
    assert statistics.median(slow["h100", "decode"]) > 0.11
    assert statistics.median(abs(e) for e in slow["h100", "decode"]) > 2.8 * statistics.median(
        abs(e) for e in errs["h100", "decode"])
    assert slow["a100", "decode"] == errs["a100", "decode"]  # the A100 measures 0.79 both ways


def test_no_price_that_grows_with_the_tokens_can_meet_a_15_percent_worst_error(rows) -> None:
    """Measured times fall as the tokens grow (cuBLAS switches kernels): by the pair below, 48 us at 160 tokens
    and 31 us at 256, any price p(160) <= p(256) is off by (48 - 31) / (48 + 31) = 21.5 % on one of them."""
    down = {r.tokens: r.measured_us for r in rows if (r.gpu, r.model, r.tp, r.op) ==
            ("h100", "Llama-2-70b-hf", 8, "mlp_down_proj") and r.tokens in (160, 256)}
    assert down == {160: 48.0, 256: 31.0}
    floor = bench.monotone_floor(rows)
    assert floor["h100", "mid-tp"] >= (48 - 31) / (48 + 31)
    assert sorted(k for k, v in floor.items() if v > 0.15) == sorted(set(MEDIAN_BOUND) - {("h100", "decode")})


def test_the_dense_peak_alone_was_far_off_on_the_same_rows(rows) -> None:
    """The old price (dense peak, waves only, no kernel fill, no overlap) is over 20 % fast on prefills."""
    chips = bench.measured_chips()
    peak = {gpu: replace(c, engines=(TensorCores("tc", c.compute_engines[0].units,
                                                 c.compute_engines[0].macs_per_unit_cycle,
                                                 c.compute_engines[0].clock_ghz),)) for gpu, c in chips.items()}
    old = bench.errors(rows, peak)
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
