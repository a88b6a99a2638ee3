"""The GPU side end to end against TensorRT-LLM's published A100 FP16 first-token latencies (nothing is fitted to them).

tests/data/trtllm/a100_fp16.csv (its header cites the source): Llama-2-7B on one A100 and Llama-2-70B on four, batch
1, 128 and 2,048 prompt tokens. TensorRT-LLM fuses its small kernels, so the twin runs its optimised GPU stack. Its
errors are -3.7 / -2.9 / -4.8 / +0.0 %; before a layer's small kernels streamed their activations they were -7.4 /
-8.0 / -7.4 / -4.9 % (the 2,048-token prompts are where that traffic shows most). The bound is the worst rounded up.
The static-batch throughput points of the same file are printed by bench/bench_trtllm.py, not held here: one of
them (Llama-2-70B, 128 in, 2,048 out) is a third below the twin (the twin +53 %), which reads as that release's
GQA decode kernel.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench_trtllm", Path(__file__).parents[2] / "bench" / "bench_trtllm.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

FIRST_TOKEN = [p for p in bench.points() if p.kind == "first_token"]


def test_the_published_points_are_the_four_first_token_latencies():
    assert [(p.model, p.tp, p.input, p.value) for p in FIRST_TOKEN] == [
        ("llama2-7b", 1, 128, 16), ("llama2-7b", 1, 2048, 133),
        ("llama2-70b", 4, 128, 47), ("llama2-70b", 4, 2048, 377)]


@pytest.mark.parametrize("point", FIRST_TOKEN, ids=lambda p: f"{p.model}-tp{p.tp}-{p.input}")
def test_first_token_latency_on_a100_within_5_percent_of_tensorrt_llm(point):
    assert bench.twin_value(point, "optimised") == pytest.approx(point.value, rel=0.05)
