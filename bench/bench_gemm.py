"""The GPU's matmul price against measured operator times: Vidur's profiled linear layers.

Run on demand: `python bench/bench_gemm.py [--vidur DIR]`. Prints, per GPU and shape class, the
median and worst relative error of the twin's price of one matmul against the measured kernel time.
It asserts nothing; tests/twin/hw/test_gemm_vidur.py checks the committed excerpt.

Data: Vidur (github.com/microsoft/vidur, MIT licence), data/profiling/compute/{a100,h100}/<org>/<model>/
mlp.csv: per model, tensor-parallel degree (1, 2, 4, 8) and token count (1..4096), the median CUDA time
in ms of each linear layer of a decoder layer, run on one GPU with the tensor-parallel shard's shape:
  attn_pre_proj   QKV projection   M x hidden -> (heads + 2 kv_heads) x head_dim / tp  (column-parallel)
  attn_post_proj  O projection     M x hidden / tp -> hidden                           (row-parallel)
  mlp_up_proj     FC1 (gate + up)  M x hidden -> ffn x (2 if gated) / tp               (column-parallel)
  mlp_down_proj   FC2              M x ffn / tp -> hidden                              (row-parallel)
With `--vidur DIR` (a checkout of the repository) its files are read; without it, the rows of those
files in the shape classes below, committed in tests/twin/hw/vidur_gemm_all.csv.gz (the same figures). The twin's price of one matmul is what the cost model
charges it under the optimised GPU stack (what Vidur's engine is): the larger of its memory stream (weights
and activations at the stack's sustained bandwidth) and its tensor-core main loop (twin.hw.engines.TensorCores),
the share of the other its pipeline leaves exposed, and the kernel's fill and drain. The "worst floor" column
is the least worst error any price that does not fall as the tokens grow can reach on the same rows.

Classes: decode-like (<= 64 tokens), prefill (>= 512 tokens), mid-size tensor-parallel (65..256 tokens,
tp 4..8). Rows outside them (65..511 tokens at tp 1-2, 257..511 at any tp) are not counted.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import statistics
from pathlib import Path
from typing import Iterable, NamedTuple

from twin.catalog import gpu_stack, load_chip
from twin.measure.operators import matmul_kernel_s

OPS = ("attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj")
CHIPS = {"a100": "a100-80gb", "h100": "h100-sxm"}
EXCERPT = Path(__file__).resolve().parent.parent / "tests" / "twin" / "hw" / "vidur_gemm_all.csv.gz"


class Row(NamedTuple):
    gpu: str  # a100 | h100 (Vidur's folder)
    model: str
    tp: int
    op: str
    tokens: int  # M
    k: int
    n: int
    measured_us: float


def shapes(r: dict, tp: int) -> dict[str, tuple[int, int]]:
    """(K, N) of each linear layer of a Vidur mlp.csv row's model, sharded over tp (Megatron style)."""
    hidden, heads, kv_heads = int(r["n_embd"]), int(r["n_head"]), int(r["n_kv_head"])
    ffn, head_dim = int(r["n_expanded_embd"]), hidden // heads
    up = ffn * (2 if r["use_gated_mlp"] == "True" else 1)
    return {"attn_pre_proj": (hidden, (heads + 2 * kv_heads) * head_dim // tp),
            "attn_post_proj": (hidden // tp, hidden), "mlp_up_proj": (hidden, up // tp),
            "mlp_down_proj": (ffn // tp, hidden)}


def vidur_rows(root: Path) -> Iterable[Row]:
    for gpu in CHIPS:
        for path in sorted((root / "data" / "profiling" / "compute" / gpu).glob("*/*/mlp.csv")):
            with open(path, newline="") as f:
                for r in csv.DictReader(f):
                    tp = int(r["num_tensor_parallel_workers"])
                    for op, (k, n) in shapes(r, tp).items():
                        yield Row(gpu, path.parent.name, tp, op, int(r["num_tokens"]), k, n,
                                  float(r[f"time_stats.{op}.median"]) * 1e3)


def excerpt_rows(path: Path = EXCERPT) -> list[Row]:
    with gzip.open(path, "rt", newline="") as f:
        return [Row(r["gpu"], r["model"], int(r["tp"]), r["op"], int(r["tokens"]), int(r["k"]), int(r["n"]),
                    float(r["measured_us"])) for r in csv.DictReader(line for line in f if not line.startswith("#"))]


def shape_class(row: Row) -> str | None:
    if row.tokens <= 64:
        return "decode"
    if row.tokens >= 512:
        return "prefill"
    return "mid-tp" if row.tokens <= 256 and row.tp >= 4 else None


def price_s(chip, m: int, k: int, n: int) -> float:
    """What the cost model charges one FP16 matmul kernel on `chip` (twin.measure.operators.matmul_kernel_s)."""
    return matmul_kernel_s(chip, m, k, n)


def measured_chips() -> dict:
    """The GPUs as the engine Vidur profiled runs them: Sarathi-Serve, a vLLM derivative, i.e. the optimised
    stack (its weight streams at the share measured on those kernels: twin.serving.stack)."""
    stack = gpu_stack("optimised")
    return {gpu: stack.on_chip(load_chip(name)) for gpu, name in CHIPS.items()}


def errors(rows: Iterable[Row], chips: dict | None = None) -> dict[tuple[str, str], list[float]]:
    """Signed relative error of the twin's price per (gpu, class)."""
    chips = chips or measured_chips()
    out: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        c = shape_class(r)
        if c is not None:
            out.setdefault((r.gpu, c), []).append(price_s(chips[r.gpu], r.tokens, r.k, r.n) * 1e6 / r.measured_us - 1)
    return out


def monotone_floor(rows: Iterable[Row]) -> dict[tuple[str, str], float]:
    """Per (gpu, class), the least worst-case relative error any price that does not fall as the token count
    grows can reach. Where a shape's (same GPU, model, tp, operator) measured time drops from t_a at fewer
    tokens to t_b < t_a at more, a price p with p_a <= p_b errs by at least (t_a - t_b) / (t_a + t_b) on one
    of the two (p_a >= t_a (1 - e) and p_b <= t_b (1 + e))."""
    series: dict[tuple, list[Row]] = {}
    for r in rows:
        c = shape_class(r)
        if c is not None:
            series.setdefault((r.gpu, c, r.model, r.tp, r.op), []).append(r)
    floor: dict[tuple[str, str], float] = {}
    for (gpu, c, *_), rs in series.items():
        slowest = 0.0  # the longest time measured at fewer tokens
        for r in sorted(rs, key=lambda r: r.tokens):
            if slowest > r.measured_us:
                floor[gpu, c] = max(floor.get((gpu, c), 0.0), (slowest - r.measured_us) / (slowest + r.measured_us))
            slowest = max(slowest, r.measured_us)
    return floor


def table(errs: dict[tuple[str, str], list[float]], floor: dict[tuple[str, str], float] | None = None) -> str:
    floor = floor or {}
    lines = [f"{'gpu':5} {'class':8} {'rows':>6} {'median %':>9} {'worst %':>8} {'signed median %':>16} "
             f"{'worst floor %':>14}"]
    for (gpu, c), e in sorted(errs.items()):
        a = [abs(x) for x in e]
        lines.append(f"{gpu:5} {c:8} {len(e):6d} {100 * statistics.median(a):9.1f} {100 * max(a):8.1f} "
                     f"{100 * statistics.median(e):+16.1f} {100 * floor.get((gpu, c), 0.0):14.1f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vidur", type=Path, help="a checkout of github.com/microsoft/vidur (else the committed rows)")
    args = ap.parse_args()
    rows = list(vidur_rows(args.vidur)) if args.vidur else excerpt_rows()
    print(table(errors(rows), monotone_floor(rows)))
    print("worst floor: the least worst error of any price that does not fall as the tokens grow (the measured\n"
          "times do fall: cuBLAS picks another kernel), so no such model can beat it")


if __name__ == "__main__":
    main()
