"""Throughput and effective bits of every KV encoder on one 4096-token x 4096-channel tensor.

Run on demand: `python bench/bench_quant_encoder.py [--tokens 4096] [--channels 4096]`.
Prints figures only; it asserts nothing about time. The tensor is one synthetic layer
(`twin.quant.activations.SyntheticKv`, seed 0), keys and values; calibration (Oaken's
profiling, QServe's SmoothAttention factors) uses four other 256-token batches of the
same layer.
"""

from __future__ import annotations

import argparse
import time

from twin.quant.activations import SyntheticKv, synthetic_kv
from twin.quant.algos import ENCODERS, effective_bits, make_encoder, nmse


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def bench_kind(kind: str, tokens: int, channels: int) -> None:
    spec = SyntheticKv(channels=channels)
    sample = synthetic_kv(spec, kind, tokens, batch=1000)
    calibration = [synthetic_kv(spec, kind, 256, batch=b).values for b in range(4)]
    x = sample.values
    print(f"\n{kind.upper()}: {tokens} x {channels}, source: {sample.source}")
    print(f"{'encoder':<11} {'eff. bits':>9} {'NMSE':>10} {'encode Melem/s':>15} {'decode Melem/s':>15}")
    for name in ENCODERS:
        encoder = make_encoder(name, kind, calibration)
        enc, t_enc = _timed(encoder.encode, x)
        y, t_dec = _timed(encoder.decode, enc)
        print(f"{name:<11} {effective_bits(enc):>9.4f} {nmse(x, y):>10.3e} "
              f"{x.size / t_enc / 1e6:>15.1f} {x.size / t_dec / 1e6:>15.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--channels", type=int, default=4096)
    args = parser.parse_args()
    for kind in "kv":
        bench_kind(kind, args.tokens, args.channels)


if __name__ == "__main__":
    main()
