"""Layer fidelity of pipeline, expert and cross-server tensor parallelism: stages walk their own chips, the
activations cross the link that joins them, micro-batches overlap, all-to-alls and network collectives show
on their links, and the whole agrees with step fidelity. Expectations come from the link, server and model
YAML read as plain YAML and from the schedule's arithmetic, not from the pipeline code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import simpy
import yaml

from twin import trace_events
from twin.catalog import load_model, load_server
from twin.config import ClusterSpec, ServingConfig
from twin.errors import CapacityExceeded
from twin.hw.cluster import Server, layer_backend
from twin.quant.schemes import QuantPolicy
from twin.replay import RunSpec, replay
from twin.serving.cost import CostModel, StepShape
from twin.serving.shape_cost import shape_costs
from twin.traces import TraceOptions, load_trace

CATALOG = Path(__file__).resolve().parents[3] / "twin" / "catalog"


def plain(kind: str, name: str) -> dict:
    return yaml.safe_load((CATALOG / kind / f"{name}.yaml").read_text())


def backend(server: str, model: str, servers: int = 1, tracer=None, **layout):
    """A fresh environment and the layer-fidelity executor of one replica laid out as `layout` (tp, pp, ep,
    micro_batches), on servers of its own: no memory plan, no requests, just the hardware and one step."""
    spec, m = load_server(server), load_model(model)
    micro = layout.pop("micro_batches", 0)
    cluster = ClusterSpec(spec, servers=servers, **layout)
    env = simpy.Environment()
    group = [Server(env, cluster, i) for i in range(servers)]
    cost = CostModel(m, spec, cluster.tp, QuantPolicy(), pp=cluster.pp, micro_batches=micro, ep=cluster.ep)
    executor = layer_backend(env, cost, group, 0, 0, shape_costs)
    executor.tracer = tracer
    return env, executor, group


def run_step(env, executor, shape: StepShape) -> float:
    env.process(executor.step(shape, 0.0))
    env.run()
    return env.now


def spans(recorder, name_start: str) -> list[tuple[str, dict]]:
    tracks = {(e["pid"], e["tid"]): e["args"]["name"] for e in recorder.events if e["name"] == "thread_name"}
    return [(tracks[(e["pid"], e["tid"])], e) for e in recorder.events
            if e["ph"] == "X" and e["name"].startswith(name_start)]


# ---- pipeline parallelism ----------------------------------------------------------------------------

@pytest.mark.parametrize("server, link_kind", [("lpu-8x-4nm", "esl"), ("dgx-h100", "nvlink")])
def test_a_two_stage_step_is_its_stages_plus_the_activation_transfer(server: str, link_kind: str) -> None:
    """One sequence through two stages of tp 2: the host's overhead, stage 0's half of the layers, the token's
    activations over the link joining the stages (latency + hidden x 2 bytes at the link's rate, from the
    link's YAML), stage 1's half, and the LM head: no overlap with a single micro-batch."""
    env, executor, _ = backend(server, "llama2-7b", tp=2, pp=2)
    one = CostModel(load_model("llama2-7b"), load_server(server), 2, QuantPolicy())
    shape = StepShape(decode_seqs=1, decode_context=700, outputs=1)
    link = plain("links", plain("servers", server)["link"])
    assert link.get("kind", "esl") == link_kind
    hidden = plain("models", "llama2-7b")["hidden"]
    transfer = link["hop_latency_s"] + hidden * 2 / (link["bandwidth_gbit_s"] * 1e9 / 8)
    layers = plain("models", "llama2-7b")["layers"]
    stages = 2 * (layers // 2) * one.layer(shape).time_s
    expected = load_server(server).host.step_overhead_s + stages + transfer + one.head_time(shape)
    assert run_step(env, executor, shape) == pytest.approx(expected, rel=1e-9)
    assert executor.links[0].bytes_moved == hidden * 2


def test_stages_on_two_servers_hand_over_through_the_nics() -> None:
    """tp 8, pp 2 over two 8-LPU servers: the activations of 64 decoding sequences leave server0 through its
    NICs (4 x 200 Gbit/s and 5 us one way in the server's YAML)."""
    env, executor, group = backend("lpu-8x-4nm", "llama2-70b", servers=2, tp=8, pp=2, micro_batches=1)
    shape = StepShape(decode_seqs=64, decode_context=64 * 500, outputs=64)
    net, hidden = plain("servers", "lpu-8x-4nm")["network"], plain("models", "llama2-70b")["hidden"]
    one = CostModel(load_model("llama2-70b"), load_server("lpu-8x-4nm"), 8, QuantPolicy())
    nbytes = 64 * hidden * 2
    transfer = net["latency_s"] + nbytes / (net["nics"] * net["nic_gbit_s"] * 1e9 / 8)
    expected = load_server("lpu-8x-4nm").host.step_overhead_s + 80 * one.layer(shape).time_s + transfer + \
        one.head_time(shape)
    assert run_step(env, executor, shape) == pytest.approx(expected, rel=1e-9)
    assert executor.links[0] is group[0].nic and group[0].nic.bytes_moved == nbytes
    assert [s[0].name.split("/")[0] for s in executor.stages] == ["server0", "server1"]


@pytest.mark.parametrize("stages, micro", [(2, 2), (2, 8), (4, 4), (4, 8)])
def test_the_bubble_is_n_minus_1_over_m_plus_n_minus_1(stages: int, micro: int) -> None:
    """m equal micro-batches through N equal stages: stage 0 works m of the m + N - 1 slots of the pipeline
    (Llama-2-70B on two LPU servers, whose LM head is small beside a stage)."""
    env, executor, _ = backend("lpu-8x-4nm", "llama2-70b", servers=2, tp=16 // stages, pp=stages,
                               micro_batches=micro)
    shape = StepShape(decode_seqs=16 * micro, decode_context=16 * micro * 800, outputs=16 * micro)
    chips_s = run_step(env, executor, shape) - load_server("lpu-8x-4nm").host.step_overhead_s
    busy = executor.stage_busy_s
    assert busy[:-1] == pytest.approx([busy[0]] * (stages - 1), rel=1e-9)  # equal stages...
    heads = busy[-1] - busy[0]  # ...but the last, which also runs the LM head and sampler of each micro-batch
    m = load_model("llama2-70b")
    one = CostModel(m, load_server("lpu-8x-4nm"), 16 // stages, QuantPolicy())
    per_micro = StepShape(decode_seqs=16, decode_context=16 * 800, outputs=16)
    assert heads == pytest.approx(micro * one.head_time(per_micro), rel=1e-9)
    idle = 1 - busy[0] / (chips_s - heads)  # without the heads the stages are equal
    assert idle == pytest.approx((stages - 1) / (micro + stages - 1), rel=0.05)


def test_the_trace_shows_every_stage_and_micro_batch_on_its_own_chips() -> None:
    recorder = trace_events.TraceEvents()
    env, executor, _ = backend("lpu-8x-4nm", "llama2-7b", tp=2, pp=4, micro_batches=4, tracer=recorder)
    run_step(env, executor, StepShape(decode_seqs=8, decode_context=8 * 300, outputs=8))
    work = spans(recorder, "stage ")
    assert sorted({(e["args"]["stage"], e["args"]["micro_batch"]) for _, e in work}) == \
        [(s, j) for s in range(4) for j in range(4)]
    for path, e in work:  # stage s walks layers [8 s, 8 s + 8) on chips 2 s and 2 s + 1
        assert int(path.split("chip")[1]) // 2 == e["args"]["stage"] and e["args"]["layers"] == 8
    handovers = spans(recorder, "activations to stage")
    assert len(handovers) == 3 * 4
    hidden = plain("models", "llama2-7b")["hidden"]
    assert {e["args"]["bytes"] for _, e in handovers} == {2 * hidden * 2}  # two sequences per micro-batch
    first = {(e["args"]["stage"], e["args"]["micro_batch"]): e["ts"] for _, e in work}
    assert first[(1, 0)] < first[(0, 3)]  # stage 1 works on micro-batch 0 while stage 0 is still busy


def test_the_summary_reports_each_stages_busy_time_and_the_bubble_it_leaves() -> None:
    """A replay at tp 2, pp 4 (four micro-batches to a busy step): each stage's chips work while the others
    finish the first and last micro-batches, so stage 0 idles 3 of every 7 slots of the replica's busy time,
    less the last stage's LM heads (which the other stages do not wait for)."""
    reqs = load_trace("azure-conv-2023", TraceOptions(limit=200, speedup=20, max_context=4096)).requests
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=2, pp=4, serving=ServingConfig(fidelity="layer")).build()
    pipe = replay(sim, reqs).summary["hardware"]["pools"]["both"]["pipeline"]
    busy = pipe["stage_busy_s"]
    assert busy[:3] == pytest.approx([busy[0]] * 3, rel=1e-9) and busy[3] > busy[0]
    replica_busy = sum(r.stats.busy_s for r in sim.replicas)
    idle = 1 - busy[0] / (replica_busy - (busy[3] - busy[0]))
    assert idle == pytest.approx(3 / 7, rel=0.05)
    assert pipe["idle_share"] == pytest.approx(idle, rel=0.05)  # what step fidelity's schedule reports


def test_a_model_that_does_not_fit_one_stage_fits_with_the_suggested_pp_in_layer_fidelity() -> None:
    layer = ServingConfig(fidelity="layer")
    with pytest.raises(CapacityExceeded) as err:
        RunSpec("lpu-8x-4nm", "opt-66b", tp=1, serving=layer).build()
    suggested = re.search(r"--pp (\d+)", str(err.value))
    assert suggested, str(err.value)
    sim = RunSpec("lpu-8x-4nm", "opt-66b", tp=1, pp=int(suggested.group(1)), serving=layer).build()
    assert len(sim.replicas[0].backend.stages) == int(suggested.group(1))


# ---- expert parallelism and tensor parallelism across servers -------------------------------------

def test_the_all_to_alls_of_an_moe_layer_show_on_the_links_with_their_bytes() -> None:
    """Mixtral on a DGX-H100 at ep 8: each of a layer's dispatch and combine all-to-alls puts tokens x hidden x
    2 bytes x top-k x (n - 1) / n on the NVLink ports of the eight GPUs together."""
    recorder = trace_events.TraceEvents()
    env, executor, _ = backend("dgx-h100", "mixtral-8x7b", tp=8, ep=8, tracer=recorder)
    tokens = 256
    run_step(env, executor, StepShape(prefill_tokens=tokens, prefill_pairs=tokens * tokens / 2, outputs=1))
    m = plain("models", "mixtral-8x7b")
    per_layer = tokens * m["hidden"] * 2 * m["experts_top_k"] * 7 / 8
    for kind in ("dispatch all-to-all", "combine all-to-all"):
        found = spans(recorder, kind)
        assert len(found) == 8 and all(path.startswith("server0/esl/link") for path, _ in found)
        assert sum(e["args"]["bytes"] for _, e in found) == pytest.approx(m["layers"] * per_layer, rel=1e-12)


def test_a_group_over_two_servers_brings_half_of_each_gathered_output_through_each_servers_nics() -> None:
    """tp 16 over two 8-LPU servers: every all-gather of a layer (attention out, O, FC1, FC2) brings each server
    the other server's half of the output through its NICs."""
    recorder = trace_events.TraceEvents()
    env, executor, _ = backend("lpu-8x-4nm", "llama2-70b", servers=2, tp=16, tracer=recorder)
    tokens = 128
    run_step(env, executor, StepShape(prefill_tokens=tokens, prefill_pairs=tokens * tokens / 2, outputs=1))
    m = plain("models", "llama2-70b")
    outputs = tokens * 2 * (3 * m["hidden"] + m["ffn"])
    found = spans(recorder, "tensor-parallel collectives")
    assert sorted(path for path, _ in found) == ["server0/nic-in", "server1/nic-in"]
    assert [e["args"]["bytes"] for _, e in found] == pytest.approx([m["layers"] * outputs / 2] * 2, rel=1e-12)
    assert len(executor.chips) == 16 and executor.chips[8].name == "server1/chip0"


# ---- layer and step fidelity agree ---------------------------------------------------------------

AGREEMENT = {
    "pp": ("lpu-8x-4nm", "llama2-7b", dict(tp=2, pp=2)),
    "pp-over-servers": ("lpu-8x-4nm", "llama2-70b", dict(servers=2, tp=8, pp=2)),
    "tp-over-servers": ("lpu-8x-4nm", "llama2-70b", dict(servers=2, tp=16)),
    "ep": ("dgx-h100", "mixtral-8x7b", dict(tp=8, ep=8)),
    "pools-of-their-own-layouts": ("lpu-8x-4nm", "llama2-7b", dict(tp=4, pd="2:1", prefill_tp=2)),
}
SERVING = ("pd", "prefill_tp")


def _summary(server: str, model: str, layout: dict, fidelity: str) -> dict:
    reqs = load_trace("azure-conv-2023", TraceOptions(limit=40, speedup=10, max_context=4096)).requests
    serving = ServingConfig(fidelity=fidelity, **{k: v for k, v in layout.items() if k in SERVING})
    layout = {k: v for k, v in layout.items() if k not in SERVING}
    sim = RunSpec(server, model, replicas=None, serving=serving, **layout).build()
    result = replay(sim, reqs)
    assert result.status == "complete", result.error
    return result.summary


@pytest.mark.parametrize("case", sorted(AGREEMENT))
def test_step_and_layer_agree_within_2_percent(case: str) -> None:
    server, model, layout = AGREEMENT[case]
    step, layer = (_summary(server, model, layout, f) for f in ("step", "layer"))
    for key in ("ttft_s", "tpot_s"):
        assert step[key]["mean"] == pytest.approx(layer[key]["mean"], rel=0.02), key
    assert step["throughput"]["output_tokens_per_s"] == pytest.approx(
        layer["throughput"]["output_tokens_per_s"], rel=0.02)
    assert step["hardware"]["steps"] == layer["hardware"]["steps"]  # the same batches, step for step
