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
