"""docs/summary.schema.json is generated from the summary's types (twin.result_types) and real runs of every
architecture validate against it: a key added to a summary without its type, or a type changed without
regenerating the file, fails here."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from twin.config import ServingConfig
from twin.replay import RunSpec, replay
from twin.schema import render
from twin.summary import Slo
from twin.traces import TraceOptions, load_trace

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "summary.schema.json"
ADAPTIVE = {"weights": "fp16", "kv": "fp16", "rules": [{"when": "queue_length", "above": 8, "kv": "oaken"}]}
RUNS = {
    "colocated": RunSpec("lpu-8x-4nm", "llama2-7b", tp=4),
    "pd": RunSpec("lpu-8x-4nm", "llama2-7b", tp=4, serving=ServingConfig(pd="1:1")),
    "pd-heterogeneous": RunSpec("lpu-8x-4nm", "llama2-7b", servers=2, tp=8,
                                serving=ServingConfig(pd="1:1", prefill_server="dgx-h100")),
    "prefix-cache": RunSpec("lpu-8x-4nm", "llama2-7b", tp=4,
                            serving=ServingConfig(prefix_cache="lru", router="prefix-affinity")),
    "speculation": RunSpec("lpu-8x-4nm", "llama2-13b", tp=8,
                           serving=ServingConfig(speculative=3, draft_model="llama2-7b")),
    "gpu": RunSpec("dgx-h100", "llama2-7b", tp=8),
    "layer-fidelity": RunSpec("lpu-8x-4nm", "llama2-7b", tp=4, serving=ServingConfig(fidelity="layer")),
    "moe": RunSpec("lpu-8x-4nm", "mixtral-8x7b", tp=8),
    "oaken-codec": RunSpec("oaken-lpddr", "llama2-7b", kv="oaken"),
    "adaptive-policy": RunSpec("lpu-8x-4nm", "llama2-7b", tp=8, policy=ADAPTIVE),
}


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def test_the_committed_schema_is_generated_from_the_types() -> None:
    assert SCHEMA_FILE.read_text() == render(), "regenerate: python -m twin.schema > docs/summary.schema.json"


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_real_run_validates(name: str, validator) -> None:
    requests = load_trace("azure-conv-2023", TraceOptions(limit=60, speedup=4)).requests
    summary = json.loads(json.dumps(replay(RUNS[name].build(), requests, Slo(1.0, 0.1)).summary))
    errors = [f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in validator.iter_errors(summary)]
    assert not errors, errors


def test_a_key_without_a_type_or_a_missing_one_is_refused(validator) -> None:
    requests = load_trace("azure-conv-2023", TraceOptions(limit=20)).requests
    summary = json.loads(json.dumps(replay(RUNS["colocated"].build(), requests).summary))
    assert validator.is_valid(summary)
    summary["hardware"]["esl_busy_s"] = 1.0  # a key the types do not have
    assert not validator.is_valid(summary)
    del summary["hardware"]["esl_busy_s"]
    del summary["energy"]["device_j"]
    assert not validator.is_valid(summary)
