"""The GPU serving stack as a choice of each run (twin.serving.stack, ServingConfig.gpu_stack).

(a) Calibrated: the optimised profile's one parameter (the time of each small kernel left in a CUDA graph)
    reproduces PyTorch's gpt-fast, Llama-2-7B at batch 1 on one A100-80GB: 107.0 tok/s with torch.compile
    and a static KV cache (pytorch.org/blog/accelerating-generative-ai-2). Prompt and output lengths as the
    blog's benchmark (a few prompt tokens, 200 generated).
(b) Derived by hand from the YAML: a layer's small kernels cost eager 6 (OPT; 7 gated) x kernel_launch_s.gpu and
    optimised 3 x the profile's figure, so a decode step differs by layers x that difference (on an A100, where
    both stacks stream at the same share); on an H100 (HBM3) the optimised stack streams weights at the
    profile's stream_factor x the chip's share, which is what Vidur's GEMV kernels measure (read from the data).
(c) Only GPUs change; the eager default leaves every figure as it was; the summary names the stack.
"""

from __future__ import annotations

import csv
import gzip
import statistics
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest
import yaml

from services.render_summary import hardware_rows, overview_table
from twin.catalog import load_model, load_server, gpu_stack
from twin.config import ServingConfig
from twin.errors import InvalidSpec
from twin.quant import QuantPolicy
from twin.replay import RunSpec, summarize
from twin.serving.cost import CostModel, StepShape
from twin.serving.request import TraceRequest
from twin.summary import Slo

CAL = yaml.safe_load(resources.files("twin.catalog").joinpath("calibration.yaml").read_text())
GPT_FAST_TOK_S = 107.0  # Llama-2-7B, batch 1, A100-80GB, torch.compile + static KV cache


def _run(server: str, model: str, stack: str, prompt: int = 5, out: int = 200):
    sim = RunSpec(server, model, serving=ServingConfig(max_batch=1, gpu_stack=stack)).build()
    sim.submit(TraceRequest(0, 0.0, prompt, out))
    sim.run()
    return sim


def _tpot_s(sim) -> float:
    st = sim.replicas[0].stats
    return st.decode_busy_s / st.decode_tokens


def test_optimised_a100_reproduces_gpt_fast():
    assert 1 / _tpot_s(_run("a100x1", "llama2-7b", "optimised")) == pytest.approx(GPT_FAST_TOK_S, rel=0.01)


# One token's activations through the fused stack's small kernels, per layer (twin.serving.cost's
# _elementwise_bytes_per_token, by hand from the model YAMLs): two fused add-norms (4 x hidden each), the activation
# (gated: gate and up in, one out; else one in, one out), and Llama's rotary Q and K (32 + 32 heads of 128), in FP16.
FUSED_TOKEN_BYTES = {"opt-1.3b": 2 * (8 * 2048 + 2 * 8192), "llama2-7b": 2 * (8 * 4096 + 3 * 11008 + 2 * 64 * 128)}
A100_BW = 5 * 407.8e9 * CAL["memory_sustained_efficiency"]["gpu-hbm"]  # a100-80gb.yaml: 5 stacks


@pytest.mark.parametrize("model, eager_kernels", [("opt-1.3b", 6), ("llama2-7b", 7)])
def test_decode_step_differs_by_the_small_kernels(model, eager_kernels):
    """At batch 1 the eager stack's launches hide its kernels' traffic; the CUDA graph's kernels add theirs."""
    eager_s = CAL["kernel_launch_s"]["gpu"] * eager_kernels
    prof = CAL["gpu_stacks"]["optimised"]
    optimised_s = prof["kernel_launch_s"] * prof["fused_kernels"] + FUSED_TOKEN_BYTES[model] / A100_BW
    m, shape = load_model(model), StepShape(decode_seqs=1, decode_context=100, outputs=1)
    server = load_server("a100x1")
    steps = [CostModel(m, stack.on(server), 1, QuantPolicy.named()).step_time(shape)
             for stack in (gpu_stack("eager"), gpu_stack("optimised"))]
    assert steps[0] - steps[1] == pytest.approx(m.layers * (eager_s - optimised_s), rel=1e-9)


def _vidur_gemv_share(gpu: str, peak_bytes_per_s: float) -> float:
    """Median bytes per second of Vidur's 1-8 token linear layers with 256 MB or more of weights, their 4 us fill
    and drain taken out (tests/twin/hw/vidur_gemm_all.csv.gz, read as plain CSV), over the peak."""
    path = Path(__file__).parents[2] / "twin" / "hw" / "vidur_gemm_all.csv.gz"
    with gzip.open(path, "rt") as f:
        rows = [r for r in csv.DictReader(line for line in f if not line.startswith("#")) if r["gpu"] == gpu]
    rates = [2 * int(r["k"]) * int(r["n"]) / ((float(r["measured_us"]) - 4) * 1e-6) for r in rows
             if int(r["tokens"]) <= 8 and 2 * int(r["k"]) * int(r["n"]) >= 256e6]
    return statistics.median(rates) / peak_bytes_per_s


def test_the_optimised_stack_streams_h100_weights_at_what_vidur_measured():
    factor = CAL["gpu_stacks"]["optimised"]["stream_factor"]["hbm3"]
    share = CAL["memory_sustained_efficiency"]["gpu-hbm"]
    assert share * factor == pytest.approx(_vidur_gemv_share("h100", 5 * 670e9), abs=0.001)  # h100-sxm.yaml peak
    assert share == pytest.approx(_vidur_gemv_share("a100", 5 * 407.8e9), abs=0.012)  # A100: no factor needed
    assert "hbm2e" not in CAL["gpu_stacks"]["optimised"]["stream_factor"]
    # a decode step's weights stream factor times faster; its KV (paged reads, fitted at the chip's share) does not
    m, server = load_model("llama2-7b"), load_server("h100x1")
    costs = [CostModel(m, stack.on(server), 1, QuantPolicy.named()) for stack in (gpu_stack("eager"),
                                                                               gpu_stack("optimised"))]
    weights_only, with_kv = StepShape(decode_seqs=1, outputs=1), StepShape(decode_seqs=1, decode_context=4096,
                                                                            outputs=1)
    w = [c.layer(weights_only).mem_s for c in costs]
    assert w[0] / w[1] == pytest.approx(factor, rel=1e-3)  # the step's one-token KV write aside
    kv = [c.layer(with_kv).mem_s - c.layer(weights_only).mem_s for c in costs]
    assert kv[0] == pytest.approx(kv[1], rel=1e-12)


def test_the_stream_factor_touches_hbm3_gpus_only():
    optimised = gpu_stack("optimised")
    lpu = load_server("lpu-8x-4nm").chip  # HBM3 too, but not a GPU
    assert lpu.memory.kind == "hbm3" and optimised.on_chip(lpu) is lpu
    assert optimised.on_chip(load_server("a100x1").chip).weight_stream_factor == 1.0  # HBM2e
    h100 = optimised.on_chip(load_server("h100x1").chip)
    renamed = optimised.on_chip(replace(load_server("h100x1").chip, name="h100-sxm-calibrated"))
    assert h100.weight_stream_factor == renamed.weight_stream_factor > 1  # by memory kind, not by name
    at_peak = replace(h100, memory=replace(h100.memory, sustained_efficiency=0.95))
    assert at_peak.weight_bytes_per_s == at_peak.memory.peak_bytes_per_s  # never past the peak


def test_lpu_runs_are_the_same_under_either_stack():
    a, b = (summarize(_run("lpu-8x-4nm", "opt-1.3b", s, 32, 64), Slo()) for s in ("eager", "optimised"))
    assert a == b
    assert "gpu_stack" not in a["twin"]


def test_summary_names_the_stack_of_a_gpu_run():
    summary = summarize(_run("h100x1", "opt-1.3b", "optimised", 32, 16), Slo())
    assert summary["twin"]["gpu_stack"] == "optimised"
    (label, text), *_ = [(r[0], r[1]) for r in zip(*[c._cells for c in overview_table(summary).columns])]
    assert label == "twin" and text.endswith("optimised GPU stack")


def test_an_unknown_stack_is_refused_naming_the_field():
    with pytest.raises(InvalidSpec, match="gpu_stack"):
        ServingConfig(gpu_stack="turbo")


def test_the_summary_shows_the_weight_share_a_stack_streams_at():
    optimised, eager = (summarize(_run("h100x1", "opt-1.3b", s, 32, 16), Slo()) for s in ("optimised", "eager"))
    share = CAL["memory_sustained_efficiency"]["gpu-hbm"] * CAL["gpu_stacks"]["optimised"]["stream_factor"]["hbm3"]
    assert optimised["hardware"]["weight_stream_efficiency"] == pytest.approx(share, rel=1e-12)
    assert optimised["hardware"]["pools"]["both"]["weight_stream_efficiency"] == pytest.approx(share, rel=1e-12)
    assert "weight_stream_efficiency" not in eager["hardware"]
    lpu = summarize(_run("lpu-8x-4nm", "opt-1.3b", "optimised", 32, 16), Slo())
    assert "weight_stream_efficiency" not in lpu["hardware"]
    (_, text), *_ = hardware_rows(optimised["hardware"], "h100-sxm")
    assert f"weights {share:.3f}" in text


def test_what_a_run_was_bound_by_counts_memory_as_the_stack_streams_it():
    """128 requests of 160 prompt and 32 output tokens on one H100 under the optimised stack: its tensor cores
    work 0.32 s at peak, its memory streams 0.30 s (weights at the stack's faster share). Dividing the bytes by
    the chip's own share would say 0.37 s of memory and call the run memory-bound."""
    sim = RunSpec("h100x1", "llama2-7b", serving=ServingConfig(max_batch=128, gpu_stack="optimised")).build()
    for i in range(128):
        sim.submit(TraceRequest(i, 0.0, 160, 32))
    sim.run()
    stats, chip = sim.replicas[0].stats, sim.cluster.server.chip
    compute_s = stats.macs / chip.macs_per_s
    assert stats.mem_busy_s < compute_s < stats.mem_bytes / chip.memory.sustained_bytes_per_s  # the premise
    assert summarize(sim, Slo())["hardware"]["bound_by"].startswith("compute")
