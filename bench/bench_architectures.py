"""Does step fidelity's cost still grow with batch changes, not tokens, under the serving architectures?

Replays one synthetic arrival sequence twice, with outputs of about 100 and about 400
tokens (4x the tokens, the same arrivals and so the same number of batch changes), for
plain serving, a prefix cache, speculative decoding and prefill/decode disaggregation,
and prints for each: output tokens, SimPy events scheduled, events per request, and wall
seconds. The events of the 4x-token run should stay close to those of the 1x run.
Run on demand (prints figures, asserts nothing):

    python bench/bench_architectures.py [--n 400]
"""

from __future__ import annotations

import argparse
import time

from twin.config import ServingConfig
from twin.replay import RunSpec, replay
from twin.traces import TraceOptions, load_trace

SOURCE = "synthetic:poisson?rate=0.5&n={n}&input=256..2048&output={lo}..{hi}&seed=3"
ARCHITECTURES = {
    "plain": dict(),
    "prefix-cache": dict(prefix_cache="lru"),
    "speculative": dict(speculative=4, acceptance=0.7, draft_skip=0.5),
    "pd 1:1": dict(pd="1:1"),
}


def measure(n: int, scale: int, serving: dict) -> dict:
    reqs = load_trace(SOURCE.format(n=n, lo=50 * scale, hi=150 * scale), TraceOptions(max_context=4096)).requests
    tp = 4 if "pd" in serving else 8
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=tp, replicas=1 if "pd" not in serving else None,
                  serving=ServingConfig(**serving)).build()
    events = [0]
    schedule = sim.env.schedule

    def counting(*args, **kwargs):
        events[0] += 1
        return schedule(*args, **kwargs)
    sim.env.schedule = counting
    t0 = time.perf_counter()
    result = replay(sim, reqs)
    return {"tokens": result.summary["throughput"]["output_tokens"], "events": events[0],
            "wall_s": time.perf_counter() - t0, "status": result.status}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400)
    n = ap.parse_args().n
    for name, serving in ARCHITECTURES.items():
        a, b = measure(n, 1, serving), measure(n, 4, serving)
        print(f"{name:>13}: tokens {a['tokens']:>8,} -> {b['tokens']:>8,} (x{b['tokens'] / a['tokens']:.2f}); "
              f"events {a['events']:>7,} -> {b['events']:>7,} (x{b['events'] / a['events']:.2f}, "
              f"{b['events'] / n:.1f} per request); wall {a['wall_s']:.2f} -> {b['wall_s']:.2f} s; "
              f"{a['status']}/{b['status']}", flush=True)
