"""`step` and `layer` fidelity agree: the same cost model, evaluated in closed form or layer by layer.

The slices are compressed 10x in time so that batches form and the replicas are busy;
an idle cluster would make the comparison trivial.
"""

from __future__ import annotations

import statistics

import pytest

from twin.config import ServingConfig
from twin.replay import RunSpec, replay
from twin.serving.request import TraceRequest
from twin.traces import TraceOptions, load_trace


def metrics(trace: str, chips: int, fidelity: str) -> dict[str, float]:
    reqs = load_trace(trace, TraceOptions(limit=500, speedup=10, max_context=4096)).requests
    spec = RunSpec("lpu-8x-4nm", "llama2-7b", tp=chips, replicas=1, serving=ServingConfig(fidelity=fidelity))
    sim = spec.build()
    result = replay(sim, reqs)
    assert result.status == "complete"
    done = sim.recorder.requests
    return {"ttft": statistics.fmean(r.ttft_s for r in done),
            "tpot": statistics.fmean(r.tpot_s for r in done if r.tpot_s is not None),
            "throughput": result.summary["throughput"]["output_tokens_per_s"],
            "steps": result.summary["hardware"]["steps"]}


@pytest.mark.parametrize("chips", [1, 2, 8])
@pytest.mark.parametrize("trace", ["azure-conv-2023", "azure-code-2023"])
def test_step_and_layer_agree_within_2_percent(trace, chips):
    step, layer = metrics(trace, chips, "step"), metrics(trace, chips, "layer")
    for key in ("ttft", "tpot", "throughput"):
        assert step[key] == pytest.approx(layer[key], rel=0.02), key
    assert step["steps"] == layer["steps"]  # the same batches, step for step


ARCHITECTURES = {
    "disaggregated": dict(pd="1:1"),
    "prefix-cached": dict(prefix_cache="lru", prefix_cache_share=0.05),
    "speculative": dict(speculative=4, acceptance=0.7, draft_model="llama2-7b"),
}


def _shared_prefix_requests(n=40):
    """Azure conv lengths and arrivals, every prompt opening with one of four 1024-token system prompts."""
    reqs = load_trace("azure-conv-2023", TraceOptions(limit=n, speedup=10, max_context=4096)).requests
    out = []
    for r in reqs:
        own = max(0, (r.input_tokens - 1024 + 255) // 256)
        sizes = (512, 512) + tuple(min(256, r.input_tokens - 1024 - 256 * j) for j in range(own))
        ids = (r.request_id % 4, 10 + r.request_id % 4) + tuple(100 + 1000 * r.request_id + j for j in range(own))
        out.append(TraceRequest(r.request_id, r.arrival_s, max(r.input_tokens, 1025), r.output_tokens, None, ids,
                                sizes))
    return out


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_step_and_layer_agree_on_serving_architectures(arch):
    reqs = _shared_prefix_requests()
    model = "llama2-13b" if arch == "speculative" else "llama2-7b"
    runs = {}
    for fidelity in ("step", "layer"):
        spec = RunSpec("lpu-8x-4nm", model, tp=2 if arch == "disaggregated" else 8, replicas=None,
                       serving=ServingConfig(fidelity=fidelity, **ARCHITECTURES[arch]))
        sim = spec.build()
        result = replay(sim, reqs)
        assert result.status == "complete", result.error
        runs[fidelity] = result.summary
    for key in ("ttft_s", "tpot_s"):
        assert runs["step"][key]["mean"] == pytest.approx(runs["layer"][key]["mean"], rel=0.02), key
    assert runs["step"]["hardware"]["steps"] == runs["layer"]["hardware"]["steps"]
    step, layer = (_numbers(runs[f]["architecture"]) for f in ("step", "layer"))
    assert step == pytest.approx(layer, rel=0.02)


def _numbers(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_numbers(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and v is not None:
            out[prefix + k] = v
    return out


def test_layer_fidelity_shows_contention():
    """A swap-out holding memory channels delays the next layer stream in `layer` fidelity only."""
    import simpy

    from twin.catalog import load_chip
    from twin.hw.hbm import Hbm
    env = simpy.Environment()
    hbm = Hbm(env, load_chip("lpu-asic-3280").memory, "hbm")
    done = []

    def swap():
        yield from hbm.stream(1e6, 1.0, channels=4)

    def layer():
        yield env.timeout(0.1)
        yield from hbm.stream(1e6, 0.5)
        done.append(env.now)

    env.process(swap())
    env.process(layer())
    env.run()
    assert done == [1.5]  # waited for the swap's channels, then streamed for 0.5 s
