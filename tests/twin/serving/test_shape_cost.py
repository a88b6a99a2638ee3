"""The per-shape cache answers what the cost model answers: whole shapes exactly, decode shapes
through the affine-in-context form where the probes prove it (checked against direct evaluation
at other contexts)."""

from __future__ import annotations

import math

import pytest

from twin.catalog import gpu_stack, load_model, load_server
from twin.quant.schemes import QuantPolicy
from twin.serving.cost import CostModel, StepShape
from twin.serving.shape_cost import ShapeCosts

CASES = [("lpu-8x-4nm", "llama2-7b", 8, "fp16", "fp16"), ("lpu-8x-4nm", "mixtral-8x7b", 8, "int8", "int8"),
         ("oaken-lpddr", "llama2-13b", 1, "fp16", "oaken"), ("lpu-8x-4nm", "mistral-7b", 2, "int4", "kivi"),
         # GPUs: kernels in turn, the small kernels' traffic, decode attention blocks, both serving stacks
         ("dgx-h100", "llama2-70b", 8, "fp16", "fp16"), ("dgx-h100+optimised", "mixtral-8x7b", 8, "fp16", "fp16"),
         ("a100x1+optimised", "llama2-7b", 1, "fp16", "fp16")]


def model(server: str, name: str, tp: int, weights: str, kv: str) -> CostModel:
    """`server` may name a GPU stack after a '+' (eager without one)."""
    name_, _, stack = server.partition("+")
    spec = gpu_stack(stack).on(load_server(name_)) if stack else load_server(name_)
    return CostModel(load_model(name), spec, tp, QuantPolicy.named(weights, kv))


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_step_time_and_layers_equal_the_cost_model(case):
    cm = model(*case)
    costs = ShapeCosts(cm)
    for s in (StepShape(3, 900, 512, 512 * 257.0, 0, 4), StepShape(0, 0, 2048, 2048 * 1024.5, 4096, 1),
              StepShape(17, 40_000, outputs=17), StepShape()):
        assert math.isclose(costs.step_time(s), cm.step_time(s), rel_tol=1e-12)
        assert costs.layer(s) == cm.layer(s)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_decode_runs_from_the_affine_form_match_direct_evaluation(case):
    cm = model(*case)
    costs = ShapeCosts(cm)
    for n, ctx, growing in ((1, 37, 1), (64, 64 * 700, 60), (256, 256 * 3000, 256)):
        times = costs.decode_times(n, ctx, growing)
        proven = costs._decode_line(n) is not None  # else only the first two steps are exact by construction
        for k in (0, 1, 100, 2000) if proven else (0, 1):
            direct = cm.step_time(StepShape(decode_seqs=n, decode_context=ctx + growing * k, outputs=n))
            assert math.isclose(times.at(k), direct, rel_tol=1e-9)
        layer, direct = costs.decode_layer(n, ctx), cm.layer(StepShape(n, ctx, outputs=n))
        for f in ("mem_bytes", "macs", "vxe_elems", "esl_bytes", "mem_s", "compute_s", "vxe_s", "codec_s"):
            assert math.isclose(getattr(layer, f), getattr(direct, f), rel_tol=1e-9, abs_tol=1e-18), f


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_a_decode_runs_work_is_the_mean_of_its_steps_work(case):
    """What a run adds to the counters: checked against every step of it evaluated directly (where the
    line is not proven, the mean of the run's two ends; on these shapes still exact)."""
    cm = model(*case)
    costs = ShapeCosts(cm)
    for n, ctx, growing, steps in ((1, 37, 1, 9), (64, 64 * 700, 60, 40), (256, 256 * 3000, 256, 25)):
        got = costs.decode_work(n, ctx, ctx + growing * (steps - 1))
        layers = [cm.layer(StepShape(n, ctx + growing * k, outputs=n)) for k in range(steps)]
        for i, f in enumerate(("mem_bytes", "mem_s", "macs", "esl_bytes", "esl_exposed_s", "codec_s")):
            want = sum(getattr(c, f) for c in layers) / steps
            assert math.isclose(got[i], want, rel_tol=1e-9, abs_tol=1e-18), f
