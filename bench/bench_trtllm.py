"""The GPU side end to end against TensorRT-LLM's published A100 FP16 figures, which nothing in the twin is fitted to.

Run on demand: `python bench/bench_trtllm.py [--stack optimised|eager]`. Prints, per published point, the
twin's figure and its error. The data and its source: tests/data/trtllm/a100_fp16.csv (first-token latency at
batch 1; output tokens/s per GPU of a static batch, every request the same lengths). Each point is replayed on
one tensor-parallel replica of A100-80GB SXMs (a100x1 for tp 1; the tp GPUs of a dgx-a100 otherwise), prefill
first, so a static batch prefills every prompt and then decodes together. It asserts nothing;
tests/twin/test_trtllm_a100.py holds the first-token points.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import NamedTuple

from twin.config import ServingConfig
from twin.replay import RunSpec
from twin.serving.request import TraceRequest

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "trtllm" / "a100_fp16.csv"


class Point(NamedTuple):
    kind: str  # first_token | throughput
    model: str
    tp: int
    batch: int
    input: int
    output: int
    value: float  # ms (first_token) or output tok/s per GPU (throughput)


def points(path: Path = DATA) -> list[Point]:
    with open(path, newline="") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return [Point(r["kind"], r["model"], int(r["tp"]), int(r["batch"]), int(r["input"]), int(r["output"]),
                      float(r["value"])) for r in rows]


def twin_value(p: Point, stack: str = "optimised") -> float:
    """The twin's figure for one published point: first-token latency in ms, or output tokens/s per GPU."""
    server = "a100x1" if p.tp == 1 else "dgx-a100"
    serving = ServingConfig(max_batch=p.batch, policy="prefill-first", gpu_stack=stack)
    sim = RunSpec(server, p.model, tp=p.tp, replicas=1, serving=serving).build()
    for i in range(p.batch):
        sim.submit(TraceRequest(i, 0.0, p.input, p.output))
    sim.run()
    done = sim.recorder.requests
    if p.kind == "first_token":
        return done[0].ttft_s * 1e3
    span = max(r.finish_s for r in done) - min(r.arrival_s for r in done)
    return p.batch * p.output / span / p.tp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stack", default="optimised", choices=("optimised", "eager"))
    args = ap.parse_args()
    print(f"{'kind':12} {'model':11} {'tp':>2} {'batch':>5} {'in':>5} {'out':>5} {'published':>10} {'twin':>9} "
          f"{'error %':>8}")
    for p in points():
        v = twin_value(p, args.stack)
        print(f"{p.kind:12} {p.model:11} {p.tp:2d} {p.batch:5d} {p.input:5d} {p.output:5d} {p.value:10.1f} {v:9.1f} "
              f"{100 * (v / p.value - 1):+8.1f}")


if __name__ == "__main__":
    main()
