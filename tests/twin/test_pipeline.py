"""Pipeline parallelism (--pp): the layers in N stages of tp chips, activations crossing each boundary over the
link that joins the stages, a step's batch in m micro-batches. Expectations come from the schedule's
arithmetic and the link figures of the catalogue, not from the pipeline code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from twin.config import ClusterSpec, ServingConfig
from twin.errors import CapacityExceeded, InvalidSpec
from twin.catalog import load_model, load_server
from twin.quant.schemes import QuantPolicy
from twin.replay import RunSpec, replay
from twin.serving.cost import CostModel, StepShape
from twin.traces import TraceOptions, load_trace

CATALOG = Path(__file__).resolve().parents[2] / "twin" / "catalog"


def esl_asic() -> dict:
    return yaml.safe_load((CATALOG / "links" / "esl-asic.yaml").read_text())


@pytest.mark.parametrize("stages", [2, 4])
def test_one_sequence_takes_the_sum_of_the_stages_and_the_transfers(stages: int) -> None:
    """Pipelining does not shorten one token's path: its step is every stage's layers in turn plus each
    boundary's transfer (latency and the token's activations over the ESL link), no faster than one stage."""
    server, model = load_server("lpu-8x-4nm"), load_model("llama2-7b")
    one = CostModel(model, server, 2, QuantPolicy())
    piped = CostModel(model, server, 2, QuantPolicy(), pp=stages)
    shape = StepShape(decode_seqs=1, decode_context=1000, outputs=1)
    link = esl_asic()
    hop = link["hop_latency_s"] + model.hidden * 2 / (link["bandwidth_gbit_s"] * 1e9 / 8)  # one token, fp16
    host = server.host.step_overhead_s
    expected = model.layers * one.layer(shape).time_s + one.head_time(shape) + (stages - 1) * hop + host
    assert piped.step_time(shape) == pytest.approx(expected, rel=1e-9)
    assert piped.step_time(shape) >= one.step_time(shape)


@pytest.mark.parametrize("stages, micro", [(2, 2), (4, 4), (4, 8), (8, 8)])
def test_the_bubble_is_n_minus_1_over_m_plus_n_minus_1(stages: int, micro: int) -> None:
    """m micro-batches through N equal stages: each stage works m of the m + N - 1 slots of a step."""
    # Llama-2-70B: 80 layers, equal stages for 2, 4 and 8; its LM head is small beside a stage (the last
    # stage also samples: 0.26 G weights against 8.6 G of layers at 8 stages)
    server, model = load_server("lpu-8x-4nm"), load_model("llama2-70b")
    tp = 8 // stages
    piped = CostModel(model, server, tp, QuantPolicy(), pp=stages, micro_batches=micro)
    stage = CostModel(model, server, tp, QuantPolicy())
    n = 16 * micro
    shape = StepShape(decode_seqs=n, decode_context=n * 800, outputs=n)
    per_micro = StepShape(decode_seqs=16, decode_context=16 * 800, outputs=16)
    work = micro * (model.layers // stages) * stage.layer(per_micro).time_s  # what one stage does in a step
    # the last stage also runs the LM head and sampler for each micro-batch, and the host adds its overhead:
    # without them the stages are equal
    extra = micro * stage.head_time(per_micro) + server.host.step_overhead_s
    idle = 1 - work / (piped.step_time(shape) - extra)
    assert idle == pytest.approx((stages - 1) / (micro + stages - 1), rel=0.05)


def test_the_summary_reports_the_measured_bubble() -> None:
    reqs = load_trace("azure-conv-2023", TraceOptions(limit=200, speedup=20, max_context=4096)).requests
    s = replay(RunSpec("lpu-8x-4nm", "llama2-7b", tp=2, pp=4).build(), reqs).summary
    pipe = s["hardware"]["pools"]["both"]["pipeline"]
    assert (pipe["stages"], pipe["layers_per_stage"], pipe["micro_batches"]) == (4, 8, 4)
    assert pipe["stage_links"] == ["ESL ring"] * 3
    assert pipe["idle_share"] == pytest.approx(3 / 7, rel=0.05)  # busy batches split in 4: 3 of 7 slots idle


def test_stages_on_two_servers_cross_the_network() -> None:
    server = load_server("lpu-8x-4nm")
    cost = CostModel(load_model("llama2-70b"), server, 8, QuantPolicy(), pp=2)
    assert cost.stage_links == ((server.network.latency_s, server.network.bytes_per_s),)
    cluster = ClusterSpec(server, servers=2, tp=8, pp=2)
    assert (cluster.chips_per_replica, cluster.servers_per_replica, cluster.max_replicas) == (16, 2, 1)


def test_a_model_that_does_not_fit_one_stage_fits_with_the_suggested_pp() -> None:
    with pytest.raises(CapacityExceeded) as err:
        RunSpec("lpu-8x-4nm", "opt-66b", tp=1).build()
    suggested = re.search(r"--pp (\d+)", str(err.value))
    assert suggested, str(err.value)
    pp = int(suggested.group(1))
    sim = RunSpec("lpu-8x-4nm", "opt-66b", tp=1, pp=pp).build()  # it fits
    with pytest.raises(CapacityExceeded):
        RunSpec("lpu-8x-4nm", "opt-66b", tp=1, pp=pp - 1).build()  # and it is the smallest that does
    assert sim.pools[0].plan.weight_bytes <= load_server("lpu-8x-4nm").chip.memory.capacity_bytes


def test_pipeline_limits_are_refused_in_one_line() -> None:
    with pytest.raises(InvalidSpec, match="multiple"):
        RunSpec("lpu-8x-4nm", "llama2-7b", tp=4, pp=3).build()
    with pytest.raises(InvalidSpec, match="add --servers"):
        RunSpec("lpu-8x-4nm", "llama2-7b", tp=8, pp=2).build()


# ---- tensor parallelism across servers --------------------------------------------------------------

def test_a_tensor_parallel_group_may_span_whole_servers() -> None:
    server = load_server("lpu-8x-4nm")
    cluster = ClusterSpec(server, servers=2, tp=16)
    assert (cluster.chips_per_replica, cluster.servers_per_replica, cluster.max_replicas) == (16, 2, 1)
    with pytest.raises(InvalidSpec, match="whole servers"):
        ClusterSpec(server, servers=2, tp=12)


def test_gathers_across_two_servers_send_half_of_each_output_through_the_nics() -> None:
    """A prefill of T tokens at tp 16 over two 8-LPU servers: inside each server the ESL ring carries what it
    carries at any tp (3.5 slices over the busiest link of a closed 8-ring); each server also receives the
    other server's half of every gathered output (attention out, O, FC1, FC2) through its NICs, shared by
    its 8 chips. Exposed, every gather waits at least one network hop."""
    server, model = load_server("lpu-8x-4nm"), load_model("llama2-70b")
    cost = CostModel(model, server, 16, QuantPolicy())
    tokens = 512
    widths = [model.hidden, model.hidden, model.ffn * model.experts_top_k, model.hidden]
    ring = sum(tokens * w * 2 / 16 * 3.5 for w in widths)
    network = sum(tokens * w * 2 / 2 / 8 for w in widths)
    exposed, moved = cost.esl(tokens)
    assert moved == pytest.approx(ring + network, rel=1e-12)
    assert cost.esl(1)[0] >= 4 * server.network.latency_s


def test_an_all_reduce_across_servers_crosses_the_network() -> None:
    """dgx-h100 x 2 at tp 16: each of a layer's two all-reduces adds, beyond NVLink's, a reduce-scatter and an
    all-gather of half the activations through the servers' NICs and the network hop each way."""
    server, model = load_server("dgx-h100"), load_model("llama2-70b")
    inside = CostModel(model, server, 8, QuantPolicy())
    across = CostModel(model, server, 16, QuantPolicy())
    tokens = 256
    data = tokens * model.hidden * 2
    net = server.network
    extra = 2 * 2 * (data / 2 / net.bytes_per_s + net.latency_s)
    assert across.all_reduce(tokens)[0] == pytest.approx(inside.all_reduce(tokens)[0] + extra, rel=1e-12)


# ---- a prefill pool of its own layout -------------------------------------------------------------

def test_the_prefill_pool_takes_its_own_tp_and_pp_on_its_server() -> None:
    """--pd 2:1 with an H100 prefill pool at tp 4: two prefill replicas share one DGX's eight GPUs; at tp 8 they
    need two DGXs; at tp 4 pp 2 each replica is a whole DGX. The decode pool keeps its own layout."""
    reqs = load_trace("azure-conv-2023", TraceOptions(limit=40, max_context=4096)).requests

    def layout(**prefill):
        spec = RunSpec("lpu-8x-4nm", "llama2-7b", tp=8, serving=ServingConfig(pd="2:1", prefill_server="dgx-h100",
                                                                              **prefill))
        s = replay(spec.build(), reqs).summary
        pools = s["hardware"]["pools"]
        return (pools["prefill"]["tp"], pools["prefill"]["pp"], pools["prefill"]["replicas"],
                s["area"]["pools"]["prefill"]["chips"], pools["decode"]["tp"])
    assert layout(prefill_tp=4) == (4, 1, 2, 8, 8)
    assert layout() == (8, 1, 2, 16, 8)
    assert layout(prefill_tp=4, prefill_pp=2) == (4, 2, 2, 16, 8)



def _shared(pd: str, tp: int, servers: int = 1, fidelity: str = "step", **prefill):
    return RunSpec("lpu-8x-4nm", "llama2-7b", tp=tp, servers=servers,
                   serving=ServingConfig(pd=pd, fidelity=fidelity, **prefill)).build()


@pytest.mark.parametrize("fidelity", ["step", "layer"])
def test_pools_on_the_runs_servers_take_their_own_layouts(fidelity: str) -> None:
    """--pd 2:1 --tp 4 --prefill-tp 2 on one 8-LPU server: the two prefill replicas hold chips 0-1 and 2-3, each
    pair joined by one ESL port (a line of two), the decode replica chips 4-7 (a line of four: three ports)."""
    sim = _shared("2:1", 4, fidelity=fidelity, prefill_tp=2)
    (server,) = sim.servers
    assert [(p.role, p.cluster.tp, len(p.replicas)) for p in sim.pools] == [("prefill", 2, 2), ("decode", 4, 1)]
    assert [c.esl_out is not None for c in server.chips] == [True, False, True, False, True, True, True, False]
    if fidelity == "layer":
        assert [[c.name for c in r.backend.chips] for r in sim.replicas] == [
            [f"server0/chip{i}" for i in chips] for chips in ((0, 1), (2, 3), (4, 5, 6, 7))]
    reqs = load_trace("azure-conv-2023", TraceOptions(limit=30, speedup=10, max_context=4096)).requests
    s = replay(sim, reqs).summary
    assert s["requests"]["done"] == 30
    assert (s["hardware"]["pools"]["prefill"]["tp"], s["hardware"]["pools"]["decode"]["tp"]) == (2, 4)


def test_a_prefill_pipeline_on_the_runs_servers_hands_over_between_its_stages() -> None:
    """--pd 1:1 --tp 2 --prefill-tp 2 --prefill-pp 2: the prefill replica's stages on chips 0-1 and 2-3, joined by
    the port from chip 1 to chip 2; the decode replica on chips 4-5."""
    sim = _shared("1:1", 2, fidelity="layer", prefill_tp=2, prefill_pp=2)
    prefill, decode = sim.replicas
    assert [[c.name for c in stage] for stage in prefill.backend.stages] == [
        ["server0/chip0", "server0/chip1"], ["server0/chip2", "server0/chip3"]]
    assert prefill.backend.links == [sim.servers[0].stage_links[1]]
    assert [c.name for c in decode.backend.chips] == ["server0/chip4", "server0/chip5"]


def test_pool_layouts_that_do_not_fit_the_servers_are_refused_in_one_line() -> None:
    """Two prefill replicas of 4 chips and a decode replica of 4 need 12 chips: one 8-LPU server is short, two
    are enough (the decode replica starts the second)."""
    with pytest.raises(InvalidSpec, match=r"needs 12 chips; 1 x lpu-8x-4nm have 8 \(add --servers\)") as err:
        _shared("2:1", 4, prefill_tp=4, prefill_pp=1)
    assert "\n" not in str(err.value)
    sim = _shared("2:1", 4, servers=2, prefill_tp=4, prefill_pp=1)
    assert [(r.role, r.place) for r in sim.replicas] == [("prefill", ("main", 0)), ("prefill", ("main", 0)),
                                                         ("decode", ("main", 1))]
