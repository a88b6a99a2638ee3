"""Expert parallelism (--ep): each chip of a tensor-parallel group holds experts / ep whole experts, tokens reach
them by a dispatch and a combine all-to-all over the link joining the chips, and the busiest chip sets an MoE
layer's time. Expectations come from the model's and the link's YAML read as plain YAML, Zipf's law worked by
hand and the engine model (twin.hw.engines), not from the expert-parallel code."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from twin.catalog import load_model, load_server
from twin.config import ServingConfig
from twin.errors import InvalidSpec
from twin.hw.engines import engine_seconds
from twin.quant.schemes import QuantPolicy
from twin.replay import RunSpec, replay
from twin.serving.cost import CostModel, StepShape
from twin.serving.moe import MoeRouting
from twin.traces import TraceOptions, load_trace

CATALOG = Path(__file__).resolve().parents[2] / "twin" / "catalog"


def plain(kind: str, name: str) -> dict:
    return yaml.safe_load((CATALOG / kind / f"{name}.yaml").read_text())


MIXTRAL = plain("models", "mixtral-8x7b")
NVLINK = plain("links", plain("servers", "dgx-h100")["link"])


def zipf_routes(experts: int, top_k: int, s: float = 1.0) -> list[float]:
    """A token's chance to route to each expert: top_k times its Zipf popularity, capped at 1."""
    harmonic = sum(1 / (i + 1) ** s for i in range(experts))
    return [min(1.0, top_k / (i + 1) ** s / harmonic) for i in range(experts)]


def cost(routing: MoeRouting | None = None, ep: int = 8, server: str = "dgx-h100") -> CostModel:
    tp = 8 if ep == 1 else ep
    return CostModel(load_model("mixtral-8x7b"), load_server(server), tp, QuantPolicy(), routing or MoeRouting(),
                     ep=ep)


@pytest.mark.parametrize("tokens", [1, 64, 4096])
def test_an_all_to_all_moves_tokens_x_hidden_x_bytes_x_top_k_x_n_minus_1_over_n(tokens: int) -> None:
    """Each of the 8 GPUs sends its 1/8 of the tokens' top-2 copies to the GPUs of their experts, 7/8 of them
    away: over NVSwitch, straight to their peers at the link's bandwidth, after a collective kernel's start
    and one hop's latency."""
    n, hidden, top_k = 8, MIXTRAL["hidden"], MIXTRAL["experts_top_k"]
    expected = tokens * hidden * 2 * top_k * (n - 1) / n  # per direction, fp16 activations
    seconds, per_gpu = cost().all_to_all(tokens)
    assert n * per_gpu == pytest.approx(expected, rel=1e-12)
    link_bytes_per_s = NVLINK["bandwidth_gbit_s"] * 1e9 / 8
    assert seconds == pytest.approx(expected / n / link_bytes_per_s + NVLINK["collective_launch_s"]
                                     + NVLINK["hop_latency_s"], rel=1e-12)


def test_the_link_counts_both_all_to_alls_and_the_all_reduce_they_leave() -> None:
    """The bytes a layer puts on NVLink (what energy counts): O's all-reduce becomes a reduce-scatter and the
    all-gather after the combine (one all-reduce, 2(n-1)/n of the activations per GPU, instead of two), plus
    the dispatch and the combine."""
    n, tokens, hidden, top_k = 8, 512, MIXTRAL["hidden"], MIXTRAL["experts_top_k"]
    activations = tokens * hidden * 2
    all_reduce = 2 * (n - 1) / n * activations  # per GPU
    all_to_alls = 2 * tokens * hidden * 2 * top_k * (n - 1) / n / n  # per GPU, both directions
    layer = cost().layer(StepShape(prefill_tokens=tokens, prefill_pairs=tokens * tokens / 2, outputs=1))
    assert layer.esl_bytes == pytest.approx(all_reduce + all_to_alls, rel=1e-12)
    without = cost(ep=1).layer(StepShape(prefill_tokens=tokens, prefill_pairs=tokens * tokens / 2, outputs=1))
    assert without.esl_bytes == pytest.approx(2 * all_reduce, rel=1e-12)


def test_on_an_esl_ring_the_busiest_link_carries_half_of_a_chips_distances() -> None:
    """A closed 8-ring: each chip sends each other chip 1/64 of the routed copies; by shortest paths every link
    carries (1+2+3+4+3+2+1)/2 = 8 of those messages."""
    tokens = 256
    pair = tokens * MIXTRAL["experts_top_k"] * MIXTRAL["hidden"] * 2 / 64
    _, busiest_link = cost(server="lpu-8x-4nm").all_to_all(tokens)
    assert busiest_link == pytest.approx(8 * pair, rel=1e-12)


def test_a_skewed_router_makes_the_most_loaded_chip_set_the_moe_layers_time() -> None:
    """A 4,096-token prefill over 8 GPUs, one expert each. Zipf routing sends 73.6 % of the tokens (2 / H_8) to
    expert 0's GPU against 25 % to each under uniform routing; the layer's compute grows by that GPU's extra
    expert matmuls (FC1 gate+up and FC2 on the engine), not the mean's."""
    tokens = 4096
    routes = zipf_routes(MIXTRAL["experts"], MIXTRAL["experts_top_k"])
    skewed, uniform = cost(MoeRouting("skewed")), cost()
    assert skewed.busiest_chip(tokens) == (pytest.approx(1.0), pytest.approx(tokens * routes[0], rel=1e-12))
    assert uniform.busiest_chip(tokens)[1] == pytest.approx(tokens * 2 / 8, rel=1e-12)

    engine = load_server("dgx-h100").chip.compute_engines[0]
    h, f = MIXTRAL["hidden"], MIXTRAL["ffn"]

    def expert(m: float) -> float:  # one whole SwiGLU expert on m tokens
        return engine_seconds(engine, m, h, 2 * f) + engine_seconds(engine, m, f, h)
    shape = StepShape(prefill_tokens=tokens, prefill_pairs=tokens * tokens / 2, outputs=1)
    grown = skewed.layer(shape).compute_s - uniform.layer(shape).compute_s
    assert grown == pytest.approx(expert(tokens * routes[0]) - expert(tokens * 2 / 8), rel=1e-9)
    assert skewed.step_time(shape) > 1.5 * uniform.step_time(shape)
    # the mean chip's work (what energy counts) is the same: every routed token is computed once
    assert skewed.layer(shape).macs == uniform.layer(shape).macs


def test_placement_by_popularity_spreads_the_hot_experts() -> None:
    """ep 4 (two experts a chip) under Zipf routing: round-robin puts experts 0 and 4 on chip 0; by popularity,
    each next most popular expert goes to the least loaded chip with room, so chip 0 holds experts 0 and 7."""
    q, tokens = zipf_routes(8, 2), 2048
    round_robin = cost(MoeRouting("skewed"), ep=4)
    by_popularity = cost(MoeRouting("skewed", placement="by-popularity"), ep=4)
    assert round_robin.busiest_chip(tokens)[1] == pytest.approx(tokens * (q[0] + q[4]), rel=1e-12)
    assert by_popularity.busiest_chip(tokens)[1] == pytest.approx(tokens * (q[0] + q[7]), rel=1e-12)
    shape = StepShape(prefill_tokens=tokens, prefill_pairs=tokens * tokens / 2, outputs=1)
    assert by_popularity.step_time(shape) < round_robin.step_time(shape)
    evenly = [cost(MoeRouting(placement=p), ep=4).step_time(shape) for p in ("round-robin", "by-popularity")]
    assert evenly[0] == evenly[1]  # uniform routing: nothing to balance


def test_at_batch_one_the_busiest_chip_streams_whole_experts() -> None:
    """One decode token, top-2 of 8 experts, one expert a GPU: a GPU streams its whole expert when a route
    reaches it (1 - (1 - 2/8)^8 of the time, taking the experts as independent), against 1/8 of each of the two
    experts under tensor parallelism."""
    h, f, e = MIXTRAL["hidden"], MIXTRAL["ffn"], MIXTRAL["experts"]
    expert = 3 * h * f * 2  # SwiGLU, fp16
    head_dim = h // MIXTRAL["heads"]
    attention = (h * h * 2 + 2 * h * MIXTRAL["kv_heads"] * head_dim) * 2 + h * e * 2  # Q, O, K, V; router
    busiest = 1 - (1 - 2 / 8) ** 8
    assert cost().hot_weight_bytes(1) == pytest.approx(attention / 8 + busiest * expert, rel=1e-12)
    assert cost(ep=1).hot_weight_bytes(1) == pytest.approx(attention / 8 + 2 * expert / 8, rel=1e-12)


def test_each_chip_holds_its_share_of_the_experts() -> None:
    """Whole experts, 8 over 8 GPUs: the same bytes per GPU as 1/8 of each, about 46.7 B fp16 weights / 8."""
    reqs = load_trace("azure-conv-2023", TraceOptions(limit=30, max_context=4096)).requests
    run = replay(RunSpec("dgx-h100", "mixtral-8x7b", tp=8, ep=8).build(), reqs).summary
    pool = run["hardware"]["pools"]["both"]
    assert pool["weights_gb_per_chip"] == pytest.approx(MIXTRAL["published_params_b"] * 2 / 8, rel=0.005)
    assert (pool["ep"], pool["experts"]["experts_per_chip"], pool["experts"]["all_to_all_link"]) == (8, 1, "NVLink")
    assert pool["experts"]["busiest_chip_route_share"] == pytest.approx(1 / 8)
    assert run["twin"]["ep"] == 8


@pytest.mark.parametrize("build, match", [
    (lambda: RunSpec("dgx-h100", "llama2-7b", tp=8, ep=8).build(), "no experts"),
    (lambda: RunSpec("dgx-h100", "mixtral-8x7b", tp=8, ep=4).build(), "ep is 1 or tp"),
    (lambda: RunSpec("dgx-h100", "mixtral-8x7b", servers=2, tp=16, ep=16).build(), "does not divide"),
    (lambda: RunSpec("dgx-h100", "mixtral-8x7b", tp=4, serving=ServingConfig(pd="1:1", prefill_ep=2)).build(),
     "ep is 1 or tp"),
    (lambda: RunSpec("dgx-h100", "mixtral-8x7b", tp=4, serving=ServingConfig(pd="2:1", prefill_ep=4)).build(),
     "add --servers"),
    (lambda: ServingConfig(expert_placement="random"), "round-robin"),
])
def test_unsupported_layouts_are_refused_in_one_line(build, match: str) -> None:
    with pytest.raises(InvalidSpec, match=match) as err:
        build()
    assert "\n" not in str(err.value)


def test_the_prefill_pool_takes_its_own_ep() -> None:
    """--pd 1:1, an H100 prefill pool at tp 8 with ep 8 beside a decode pool on another DGX at tp 8 without."""
    reqs = load_trace("azure-conv-2023", TraceOptions(limit=20, max_context=4096)).requests
    spec = RunSpec("dgx-h100", "mixtral-8x7b", tp=8, serving=ServingConfig(pd="1:1", prefill_server="dgx-h100",
                                                                          prefill_ep=8))
    pools = replay(spec.build(), reqs).summary["hardware"]["pools"]
    assert pools["prefill"]["ep"] == 8 and "ep" not in pools["decode"]


def test_ep_is_a_sweep_axis() -> None:
    from twin.explore.sweep import parse_set, sweep_points
    points = sweep_points(RunSpec("dgx-h100", "mixtral-8x7b", tp=8), [parse_set("ep=1,8")], 4)
    assert [p.spec.ep for p in points] == [1, 8] and not any(p.error for p in points)
    assert points[1].spec.build().pools[0].cluster.ep == 8
    with pytest.raises(InvalidSpec, match="ep is 1 or tp"):
        sweep_points(RunSpec("dgx-h100", "mixtral-8x7b", tp=8), [parse_set("ep=1,2")], 4)


def test_across_servers_half_of_each_servers_routes_cross_the_network() -> None:
    """A 16-expert variant of Mixtral over two DGX H100s at tp = ep = 16: each server owns half the tokens and
    sends the half of their routed copies whose experts sit on the other server through its eight 400 Gbit/s
    NICs; that outlasts the NVLink share, and a network hop adds its latency."""
    import dataclasses
    server = load_server("dgx-h100")
    model = dataclasses.replace(load_model("mixtral-8x7b"), experts=16)
    cm = CostModel(model, server, 16, QuantPolicy(), ep=16)
    tokens, net = 1024, plain("servers", "dgx-h100")["network"]
    routed = tokens * MIXTRAL["experts_top_k"] * MIXTRAL["hidden"] * 2
    crossing = routed / 2 / 2  # per server: its half of the tokens, half of their copies bound away
    nic_bytes_per_s = net["nics"] * net["nic_gbit_s"] * 1e9 / 8
    seconds, per_gpu = cm.all_to_all(tokens)
    assert seconds == pytest.approx(crossing / nic_bytes_per_s + NVLINK["collective_launch_s"] + NVLINK["hop_latency_s"]
                                     + net["latency_s"],
                                    rel=1e-12)
    assert per_gpu == pytest.approx(routed / 256 * 7 + crossing / 8, rel=1e-12)  # NVLink peers, and the NIC share


def test_the_reduce_scatter_and_all_gather_are_two_collectives_each_with_its_start() -> None:
    """On NVLink a layer under ep runs O's reduce-scatter, the dispatch and combine all-to-alls and the all-gather
    after the combine: four collective kernels, each with its start (nvlink4.yaml), and together one
    all-reduce's 2(n-1) ring steps and bytes."""
    n, tokens, hidden = 8, 256, MIXTRAL["hidden"]
    link_bytes_per_s = NVLINK["bandwidth_gbit_s"] * 1e9 / 8
    activations = tokens * hidden * 2
    reduce_scatter_and_gather = (2 * (n - 1) / n * activations / (link_bytes_per_s * NVLINK["collective_efficiency"])
                                 + 2 * NVLINK["collective_launch_s"] + 2 * (n - 1) * NVLINK["hop_latency_s"])
    a2a_s, _ = cost().all_to_all(tokens)
    seconds, _ = cost().expert_exchange(tokens)
    assert seconds == pytest.approx(reduce_scatter_and_gather + 2 * a2a_s, rel=1e-12)
