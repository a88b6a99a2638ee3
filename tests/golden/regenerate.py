"""Regenerate the golden summaries: python tests/golden/regenerate.py (then review the diff)."""

from __future__ import annotations

import json
from pathlib import Path

from twin.config import ServingConfig
from twin.replay import RunSpec, replay
from twin.summary import Slo
from twin.traces import TraceOptions, load_trace

HERE = Path(__file__).resolve().parent
CASES = {
    "conv300_llama2-7b_tp4_chunked": (RunSpec("lpu-8x-4nm", "llama2-7b", tp=4, serving=ServingConfig(
        policy="chunked", router="least-tokens")), Slo(2.0, 0.05)),
    "code300_opt-13b_oaken-lpddr": (RunSpec("oaken-lpddr", "opt-13b"), Slo(5.0, 0.1)),
}


def golden_summary(name: str) -> dict:
    spec, slo = CASES[name]
    trace = "azure-code-2023" if name.startswith("code") else "azure-conv-2023"
    reqs = load_trace(trace, TraceOptions(limit=300, max_context=load_model_ctx(spec))).requests
    summary = replay(spec.build(), reqs, slo).summary
    return json.loads(json.dumps(summary))  # the JSON round trip a stored summary goes through


def load_model_ctx(spec: RunSpec) -> int:
    from twin.catalog import load_model
    return load_model(spec.model).max_context


if __name__ == "__main__":
    for case in CASES:
        (HERE / f"{case}.json").write_text(json.dumps(golden_summary(case), indent=1, sort_keys=True) + "\n")
        print("wrote", case)
