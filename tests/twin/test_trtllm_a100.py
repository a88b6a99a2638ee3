"""The GPU side end to end against TensorRT-LLM's published A100 FP16 first-token latencies (nothing is fitted to them).

tests/data/trtllm/a100_fp16.csv (its header cites the source): Llama-2-7B on one A100 and Llama-2-70B on four, batch
1, 128 and 2,048 prompt tokens. TensorRT-LLM fuses its small kernels, so the twin runs its optimised GPU stack.
Held here: the 2,048-token prompts, where the kernels are nearly all of the time. The twin is -2.9 and +0.0 % off
(-8.0 and -4.9 % before a layer's small kernels streamed their activations); the bound is the worse rounded up.
Not held: the 128-token prompts, where the twin is 16-17 % below TensorRT-LLM v0.5 but agrees with measured
kernels. Vidur's A100 kernels for Llama-2-7B at 128 tokens (mlp.csv) sum to 351.5 us of matmuls and 34 us of small
kernels a layer, about 12.5-13 ms over the model with its attention and head, against the twin's 13.2 ms and
TensorRT-LLM's 16 ms: the rest is the engine's own, outside the kernels. bench/bench_trtllm.py prints every point,
the static-batch throughputs too (one, Llama-2-70B at 128 in and 2,048 out, is far below the twin: that release's
GQA decode kernel, by its own later XQA note).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench_trtllm", Path(__file__).parents[2] / "bench" / "bench_trtllm.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

FIRST_TOKEN = [p for p in bench.points() if p.kind == "first_token"]
LONG_PROMPTS = [p for p in FIRST_TOKEN if p.input == 2048]


def test_the_published_points_are_the_four_first_token_latencies():
    assert [(p.model, p.tp, p.input, p.value) for p in FIRST_TOKEN] == [
        ("llama2-7b", 1, 128, 16), ("llama2-7b", 1, 2048, 133),
        ("llama2-70b", 4, 128, 47), ("llama2-70b", 4, 2048, 377)]


@pytest.mark.parametrize("point", LONG_PROMPTS, ids=lambda p: f"{p.model}-tp{p.tp}-{p.input}")
def test_long_prompt_first_token_latency_on_a100_within_3_percent_of_tensorrt_llm(point):
    assert bench.twin_value(point, "optimised") == pytest.approx(point.value, rel=0.03)
