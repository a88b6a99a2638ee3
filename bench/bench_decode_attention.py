"""The GPU's decode attention price against FlashAttention-2's measured paged decode on H100.

Run on demand: `python bench/bench_decode_attention.py`. Prints, per published point and per shape class,
the relative error of the kernel time the twin charges (the attention kernel's fill and drain, then the
longer of its blocks' chains in waves over the SMs and of its KV at the sustained bandwidth) and of the
price before it (the KV at the sustained bandwidth, nothing else). It asserts nothing;
tests/twin/hw/test_decode_attention.py checks the same points.

Data: tests/data/decode_attention/fa2_paged_decode_h100.csv (onnxruntime PR #21414, nvbench GPU times).
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from twin.catalog import load_server
from twin.hw.engines import attention_tail_s, decode_blocks_seconds

TABLE = Path(__file__).parents[1] / "tests" / "data" / "decode_attention" / "fa2_paged_decode_h100.csv"
CLASSES = {"mha (32 kv heads)": lambda r: r["num_kv_heads"] == "32",
           "gqa (8 kv heads)": lambda r: r["num_kv_heads"] == "8",
           "<= 128 keys": lambda r: int(r["seq_len"]) <= 128, ">= 256 keys": lambda r: int(r["seq_len"]) >= 256,
           "all": lambda r: True}


def prices(row: dict) -> tuple[float, float, float]:
    """(measured, before, twin) kernel seconds of one published point."""
    chip = load_server("h100x1").chip
    engine, bw = chip.engines[0], chip.memory.sustained_bytes_per_s
    seqs, keys, kv_heads = int(row["num_seqs"]), int(row["seq_len"]), int(row["num_kv_heads"])
    kv = seqs * keys * kv_heads * int(row["head_size"]) * 2 * 2
    twin = attention_tail_s(engine) + max(decode_blocks_seconds(engine, seqs * kv_heads), kv / bw)
    return float(row["gpu_time_us"]) * 1e-6, kv / bw, twin


def main() -> None:
    rows = list(csv.DictReader(line for line in TABLE.read_text().splitlines() if not line.startswith("#")))
    print(f"{'seqs':>5} {'keys':>5} {'kv heads':>8} {'measured us':>12} {'before':>8} {'err %':>7} {'twin':>8}"
          f" {'err %':>7}")
    for row in rows:
        m, before, twin = prices(row)
        print(f"{row['num_seqs']:>5} {row['seq_len']:>5} {row['num_kv_heads']:>8} {m * 1e6:12.1f} {before * 1e6:8.1f}"
              f" {(before / m - 1) * 100:+7.1f} {twin * 1e6:8.1f} {(twin / m - 1) * 100:+7.1f}")
    print(f"\n{'class':<20} {'n':>2} {'before median %':>16} {'worst %':>8} {'twin median %':>14} {'worst %':>8}")
    for name, keep in CLASSES.items():
        got = [prices(r) for r in rows if keep(r)]
        before = [abs(b / m - 1) * 100 for m, b, _ in got]
        twin = [abs(t / m - 1) * 100 for m, _, t in got]
        print(f"{name:<20} {len(got):>2} {statistics.median(before):16.1f} {max(before):8.1f}"
              f" {statistics.median(twin):14.1f} {max(twin):8.1f}")


if __name__ == "__main__":
    main()
