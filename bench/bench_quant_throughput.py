"""Decode throughput versus batch under FP16, KIVI, QServe-style and Oaken KV on both Oaken platforms.

Run on demand: `python bench/bench_quant_throughput.py [--encoder-tokens 2048] [--no-encoder]`.
Prints figures only; it asserts nothing about time.

For each platform (oaken-hbm, oaken-lpddr), model (Llama2-7B, 13B), KV scheme and batch
(16..256), `batch` requests of 1024 input / 1024 output tokens arrive at t=0 with
max_batch = batch, measured as tests/twin/test_calibration.py does: decode tokens per
second of decode-only steps. Next to each throughput, the most requests that ran at once
(below the batch when the KV cache, not max_batch, is the limit), and per scheme the KV
capacity in tokens. The LPU-baseline row is Oaken Fig. 11 (FP16 KV on the LPDDR
platform, digitized); the paper publishes no such row for the HBM platform.
Then the encoder throughput table of bench/bench_quant_encoder.py (elements per second).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from twin.config import ServingConfig
from twin.replay import RunSpec
from twin.serving.request import TraceRequest

SERVERS = ("oaken-hbm", "oaken-lpddr")
MODELS = ("llama2-7b", "llama2-13b")
SCHEMES = ("fp16", "kivi", "qserve", "oaken")
BATCHES = (16, 32, 64, 128, 256)
LPU_BASELINE = {  # Oaken Fig. 11, tokens/s at BATCHES (reference §2)
    ("oaken-lpddr", "llama2-7b"): (671, 909, 1103, 1232, 1232),
    ("oaken-lpddr", "llama2-13b"): (380, 532, 660, 756, 756),
}


def measure(server: str, model: str, kv: str, batch: int) -> tuple[float, int, int]:
    """(decode tokens/s, most requests running at once, KV capacity in tokens)."""
    # Sample the batch at every scheduling decision so the peak is not missed.
    serving = ServingConfig(max_batch=batch, sample_every_s=1e-9)
    sim = RunSpec(server, model, kv=kv, serving=serving).build()
    for i in range(batch):
        sim.submit(TraceRequest(i, 0.0, 1024, 1024))
    sim.run()
    stats = sim.replicas[0].stats
    peak = max(x.value for x in sim.recorder.series if x.name == "replica0/batch")
    return stats.decode_tokens / stats.decode_busy_s, int(peak), sim.memory.kv_blocks * sim.serving.block_tokens


def print_block(server: str, model: str) -> None:
    print(f"\n{server}, {model}: decode tokens/s (peak concurrent batch), 1K:1K")
    print(f"{'batch':>6} {'LPU pub.':>9}" + "".join(f" {kv:>16}" for kv in SCHEMES))
    published = LPU_BASELINE.get((server, model))
    capacity = {}
    for i, batch in enumerate(BATCHES):
        cells = []
        for kv in SCHEMES:
            tps, peak, capacity[kv] = measure(server, model, kv, batch)
            cells.append(f"{tps:>9,.0f} ({peak:>4})")
        pub = f"{published[i]:>9,}" if published else f"{'-':>9}"
        print(f"{batch:>6} {pub}" + "".join(f" {c:>16}" for c in cells))
    print(f"{'KV capacity, tokens':>16}" + "".join(f" {capacity[kv]:>16,}" for kv in SCHEMES))


def encoder_table(tokens: int, channels: int) -> None:
    # Reuse the encoder bench (a sibling script, not a package): put its folder on the path.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_quant_encoder import bench_kind

    print(f"\nEncoder throughput (bench/bench_quant_encoder.py), {tokens} tokens x {channels} channels")
    for kind in "kv":
        bench_kind(kind, tokens, channels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder-tokens", type=int, default=2048,
                        help="tokens of the encoder bench tensor (2048: KIVI at its folded context)")
    parser.add_argument("--encoder-channels", type=int, default=4096, help="Llama2-7B's kv_dim")
    parser.add_argument("--no-encoder", action="store_true", help="skip the encoder throughput table")
    args = parser.parse_args()
    start = time.perf_counter()
    for server in SERVERS:
        for model in MODELS:
            print_block(server, model)
    print(f"\n(simulated in {time.perf_counter() - start:.1f} s wall)")
    if not args.no_encoder:
        encoder_table(args.encoder_tokens, args.encoder_channels)


if __name__ == "__main__":
    main()
