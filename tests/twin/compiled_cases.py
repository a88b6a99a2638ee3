"""Replays that exercise every compiled module on every serving path (tests/twin/test_compiled.py).

Run as a script it prints their summaries as JSON: the test runs it in a Python that imports the
repository's sources, and compares with the same replays run by the installed, compiled twin.
"""

from __future__ import annotations

import json

from twin.config import ServingConfig
from twin.replay import RunSpec, replay
from twin.traces import TraceOptions, iter_synthetic, load_trace, parse_synthetic

SYNTHETIC = "synthetic:poisson?rate=1.2&n=1500&input=128..2048&output=64..512&seed=1"
# OPT-30B on the 80 GB Oaken-HBM platform leaves about 14 k tokens of KV: requests wait and are preempted
TIGHT = "synthetic:poisson?rate=20&n=150&input=256..1024&output=256..1024&seed=1"
ADAPTIVE = {"weights": "fp16", "kv": "fp16", "rules": [{"when": "kv_occupancy", "above": 0.3, "kv": "int8"}]}

CASES = {
    "prefill-first": RunSpec("lpu-8x-4nm", "llama2-7b", tp=8),
    "chunked": RunSpec("lpu-8x-4nm", "llama2-7b", tp=2, serving=ServingConfig(policy="chunked")),
    "decode-first": RunSpec("lpu-8x-4nm", "llama2-7b", tp=2, serving=ServingConfig(policy="decode-first")),
    "speculative": RunSpec("lpu-8x-4nm", "llama2-13b", tp=1, serving=ServingConfig(speculative=3, draft_skip=0.5)),
    "disaggregated": RunSpec("lpu-8x-4nm", "llama2-7b", tp=8, servers=2, serving=ServingConfig(pd="1:1")),
    "prefix-cache": RunSpec("lpu-8x-4nm", "llama2-7b", tp=4,
                            serving=ServingConfig(prefix_cache="lru", router="prefix-affinity")),
    "layer": RunSpec("lpu-8x-4nm", "llama2-7b", tp=8, serving=ServingConfig(fidelity="layer")),
    "moe-int8": RunSpec("lpu-8x-4nm", "mixtral-8x7b", tp=8, weights="int8", kv="int8"),
    "oaken-codec": RunSpec("oaken-lpddr", "llama2-13b", tp=1, kv="oaken"),
    "adaptive-kv": RunSpec("lpu-8x-4nm", "llama2-13b", tp=1, policy=ADAPTIVE),
    "gpu": RunSpec("dgx-a100", "llama2-13b", tp=2),
}


def summaries() -> dict:
    azure = load_trace("azure-conv-2023", TraceOptions(max_context=4096, limit=1200)).requests
    out = {name: replay(spec.build(), azure[:300] if name == "layer" else azure).summary
           for name, spec in CASES.items()}
    tight = load_trace(TIGHT, TraceOptions(max_context=2048)).requests
    for preemption in ("recompute", "swap"):
        spec = RunSpec("oaken-hbm", "opt-30b", serving=ServingConfig(preemption=preemption))
        out[f"preempt-{preemption}"] = replay(spec.build(), tight).summary
    out["synthetic-stream"] = replay(RunSpec("lpu-8x-4nm", "llama2-7b", tp=8).build(),
                                     iter_synthetic(parse_synthetic(SYNTHETIC))).summary
    return json.loads(json.dumps(out, sort_keys=True, default=str))  # as the other side reads them


if __name__ == "__main__":
    from twin.serving import batch
    print(json.dumps({"core": batch.__file__, "summaries": summaries()}, sort_keys=True, default=str))
