"""A GPU matmul kernel's exposed overlap in the step cost (twin.hw.engines.overlap_exposed_s, CostModel).

Each of a layer's four matmuls (Llama-2-7B on one H100: QKV 4096 x 12288, O 4096 x 4096, FC1 4096 x 22016,
FC2 11008 x 4096) adds overlap_exposed (calibration.yaml) times the shorter of its operand stream (weights,
input and output in FP16 at the sustained bandwidth, from the chip YAML) and its main loop, below 16 rows
only the rows' share of it. The main loop is the engine's own (tested in tests/twin/hw/test_gemm_vidur.py);
what is checked here is that the cost model adds exactly that per kernel, once, to the layer and the LM head.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from twin.catalog import gpu_stack, load_model, load_server
from twin.quant import QuantPolicy
from twin.serving.cost import CostModel, StepShape

CAL = yaml.safe_load((Path(__file__).parents[3] / "twin" / "catalog" / "calibration.yaml").read_text())
SHARE = CAL["tensor_cores"]["h100-sxm"]["overlap_exposed"]
BW = 5 * 670e9 * CAL["memory_sustained_efficiency"]["gpu-hbm"]  # h100-sxm.yaml: 5 stacks of 670 GB/s
SHAPES = ((4096, 12288), (4096, 4096), (4096, 22016), (11008, 4096))  # (K, N) of QKV, O, FC1, FC2


# the optimised stack streams an HBM3 GPU's weights (not its activations) this much faster (calibration.yaml)
WEIGHTS_FASTER = {"eager": 1.0, "optimised": CAL["gpu_stacks"]["optimised"]["stream_factor"]["hbm3"]}


def costs(stack: str = "eager") -> tuple[CostModel, CostModel]:
    server = gpu_stack(stack).on(load_server("h100x1"))
    engine = server.chip.compute_engines[0]
    hidden = replace(server, chip=replace(server.chip, engines=(replace(engine, overlap_exposed=0.0),)))
    model = load_model("llama2-7b")
    return tuple(CostModel(model, s, 1, QuantPolicy.named()) for s in (server, hidden))


def by_hand(engine, m: int, k: float, n: float, stack: str = "eager") -> float:
    stream_s = 2 * k * n / (BW * WEIGHTS_FASTER[stack]) + 2 * (m * k + m * n) / BW
    main_s = engine.phases(m, k, n)[0] / (1.83e9)  # h100-sxm.yaml: tensor cores at 1.83 GHz
    return SHARE * min(stream_s, main_s * min(1.0, m / 16))


@pytest.mark.parametrize("stack", ["eager", "optimised"])
@pytest.mark.parametrize("tokens", [1, 8, 256, 2048])
def test_a_layer_adds_each_matmuls_exposed_overlap_once(tokens: int, stack: str) -> None:
    real, hidden = costs(stack)
    engine = real.engines[0]
    shape = StepShape(prefill_tokens=tokens, prefill_pairs=tokens * (tokens + 1) / 2, outputs=1)
    added = real.layer(shape).launch_s - hidden.layer(shape).launch_s
    assert added == pytest.approx(sum(by_hand(engine, tokens, k, n, stack) for k, n in SHAPES), rel=1e-9)
    assert added > 0
    assert real.layer(shape).mem_s == hidden.layer(shape).mem_s  # the streams themselves do not change


@pytest.mark.parametrize("stack", ["eager", "optimised"])
@pytest.mark.parametrize("outputs", [64, 512])  # at 512 the stream (with its logits) is the shorter phase
def test_the_lm_head_adds_its_own(outputs: int, stack: str) -> None:
    real, hidden = costs(stack)
    shape = StepShape(decode_seqs=outputs, decode_context=outputs * 100, outputs=outputs)
    assert real.head_time(shape) - hidden.head_time(shape) == pytest.approx(
        by_hand(real.engines[0], outputs, 4096, 32000, stack), rel=1e-9)  # hidden x vocab (llama2-7b.yaml)


def test_the_lpu_has_none() -> None:
    lpu = CostModel(load_model("llama2-7b"), load_server("lpu-8x-4nm"), 1, QuantPolicy.named())
    assert lpu.matmuls_overlap_s(256) == 0.0


# Llama-2-70B at tp 8 (llama2-70b.yaml: hidden 8192, 64 heads and 8 KV heads of 128, FFN 28672, gated), per
# chip: QKV and FC1 column-split, O and FC2 row-split (the all-reduces follow them)
SHAPES_70B_TP8 = ((8192, (64 + 2 * 8) * 128 // 8), (8192 // 8, 8192), (8192, 2 * 28672 // 8), (28672 // 8, 8192))


def in_turn_by_hand(engine, tokens: int, shapes, stack: str) -> float:
    """Each kernel the longer of its own stream and main loop, less one max of the sums."""
    streams = [2 * k * n / (BW * WEIGHTS_FASTER[stack]) + 2 * (tokens * k + tokens * n) / BW for k, n in shapes]
    mains = [engine.cycles(tokens, k, n) / 1.83e9 for k, n in shapes]
    return sum(map(max, streams, mains)) - max(sum(streams), sum(mains))


@pytest.mark.parametrize("stack", ["eager", "optimised"])
@pytest.mark.parametrize("tokens", [64, 128, 256])
def test_kernels_in_turn_each_take_the_longer_of_their_own_stream_and_main_loop(tokens: int, stack: str) -> None:
    """At 64-256 tokens on 8 H100s some of a layer's kernels stream while others compute: a layer pays each
    kernel's longer phase, not one max over the sums (which would hide a streaming QKV under FC1's MMAs)."""
    server = gpu_stack(stack).on(load_server("dgx-h100"))
    cost = CostModel(load_model("llama2-70b"), server, 8, QuantPolicy.named())
    expected = in_turn_by_hand(cost.engines[0], tokens, SHAPES_70B_TP8, stack)
    assert expected > 0  # the premise: the kernels are bound differently
    assert cost.matmuls_in_turn_s(tokens) == pytest.approx(expected, rel=1e-9)
    shape = StepShape(prefill_tokens=tokens, prefill_pairs=tokens * (tokens + 1) / 2, outputs=1)
    assert cost.layer(shape).launch_s == pytest.approx(cost.launch_s + cost.matmuls_overlap_s(tokens) + expected
                                                       + cost.elementwise_s(tokens))  # by hand below


def test_kernels_bound_alike_add_nothing_in_turn() -> None:
    """Decode on one H100 (every kernel streams) and a long prefill (every kernel computes) add nothing; nor
    does the LPU, whose pipeline streams one matmul's weights while it computes another's."""
    real, _ = costs("eager")
    assert in_turn_by_hand(real.engines[0], 1, SHAPES, "eager") == 0.0
    assert real.matmuls_in_turn_s(1) == 0.0
    assert in_turn_by_hand(real.engines[0], 2048, SHAPES, "eager") == 0.0
    assert real.matmuls_in_turn_s(2048) == 0.0
    lpu = CostModel(load_model("llama2-7b"), load_server("lpu-8x-4nm"), 1, QuantPolicy.named())
    assert lpu.matmuls_in_turn_s(256) == 0.0


# Llama-2-70B's small kernels' traffic per token, layer and chip at tp 8 (twin.serving.cost, by hand): norms and
# residual adds over the whole hidden width (eager: 2 x (2 + 3) passes; fused add-norms: 2 x 4), the activation
# over the chip's FFN share (eager gated: SiLU then multiply, 2 + 3 passes; fused: 3), rotary Q and K (64 + 8
# heads of 128 over 8 chips, in place), in FP16.
TOKEN_BYTES_70B_TP8 = {"eager": 2 * (10 * 8192 + 5 * 28672 / 8 + 2 * 72 * 128 / 8),
                       "optimised": 2 * (8 * 8192 + 3 * 28672 / 8 + 2 * 72 * 128 / 8)}


@pytest.mark.parametrize("tokens", [1, 256, 2048, 4096])
def test_the_small_kernels_stream_their_activations(tokens: int) -> None:
    """A GPU layer's norms, residual adds, activation and rotary read and write their activations in memory. The
    eager stack's host launches (7 a layer, calibration.yaml) hide that traffic until it outlasts them (from
    about 560 tokens of Llama-2-70B on 8 H100s); a CUDA graph's kernels add theirs to their gaps at any size.
    The LPU keeps activations on chip."""
    launches = 7 * CAL["kernel_launch_s"]["gpu"]
    for stack in ("eager", "optimised"):
        cost = CostModel(load_model("llama2-70b"), gpu_stack(stack).on(load_server("dgx-h100")), 8,
                         QuantPolicy.named())
        stream_s = tokens * TOKEN_BYTES_70B_TP8[stack] / BW
        expected = stream_s if stack == "optimised" else max(0.0, stream_s - launches)
        assert cost.elementwise_s(tokens) == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert CostModel(load_model("llama2-70b"), load_server("dgx-h100"), 8, QuantPolicy.named()).elementwise_s(
        256) == 0.0 < CostModel(load_model("llama2-70b"), load_server("dgx-h100"), 8,
                                QuantPolicy.named()).elementwise_s(2048)
    lpu = CostModel(load_model("llama2-7b"), load_server("lpu-8x-4nm"), 1, QuantPolicy.named())
    assert lpu.elementwise_s(4096) == 0.0
