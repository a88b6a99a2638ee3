"""Physical invariants over random deployments, models, loads and both fidelities (Hypothesis): no chip above
its power limit, every utilisation a fraction, exposed link time within busy time, energy per output token
at least what streaming the weights costs, TTFT at least the prefill's compute roofline, TPOT at least the
decode bandwidth roofline. Each bound is computed here from the catalogue's figures, not by the twin."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.config import ServingConfig
from twin.energy import PJ
from twin.replay import RunSpec, replay
from twin.traces import TraceOptions, load_trace

# (server, chips per replica); models that fit every one of them at that tp
SERVERS = [("lpu-8x-4nm", 4), ("h100x1", 1), ("a100x1", 1), ("dgx-h100", 8), ("oaken-lpddr", 1)]
MODELS = ["opt-1.3b", "llama2-7b"]


def utilisations(hw: dict) -> list[float]:
    keys = ("hbm_bandwidth_util", "hbm_bandwidth_util_busy", "mac_util", "mac_util_busy", "prefill_mac_util")
    return [hw[k] for k in keys]


@settings(max_examples=14, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(server=st.sampled_from(SERVERS), model=st.sampled_from(MODELS), speedup=st.sampled_from([1.0, 8.0, 40.0]),
       fidelity=st.sampled_from(["step", "layer"]), policy=st.sampled_from(["prefill-first", "chunked"]))
def test_physical_invariants(server, model, speedup, fidelity, policy) -> None:
    name, tp = server
    spec = RunSpec(name, model, tp=tp, serving=ServingConfig(fidelity=fidelity, policy=policy))
    sim = spec.build()
    requests = load_trace("azure-conv-2023", TraceOptions(limit=120, speedup=speedup, max_context=2048)).requests
    s = replay(sim, requests).summary
    chip, m = sim.cluster.server.chip, sim.model
    # power: no chip above its stated limit, at the run's peak
    if chip.tdp_w is not None:
        floor = chip.energy.static_w + chip.memory.stacks * chip.energy.memory_static_w_per_stack
        for rep in sim.replicas:
            assert floor + rep.stats.peak_dynamic_w <= chip.tdp_w * (1 + 1e-9)
    # utilisation and links
    hw = s["hardware"]
    for figures in (hw, *hw["pools"].values()):
        assert all(0.0 <= u <= 1.0 + 1e-12 for u in utilisations(figures)), figures
    for pool in hw["pools"].values():
        link = pool["interconnect"]
        assert link["exposed_s_per_chip"] <= link["busy_s_per_chip"] + 1e-12
    done = [r for r in sim.recorder.requests if r.state == "done"]
    assert done
    weight_bytes_per_chip = sim.pools[0].plan.weight_bytes
    # energy: every decode step streams each chip's weights once, shared by at most max_batch tokens
    if chip.energy is not None and s["energy"]["j_per_output_token"] is not None:
        j_byte = chip.energy.pj_per_mem_byte * PJ
        assert s["energy"]["j_per_output_token"] >= weight_bytes_per_chip * tp * j_byte / spec.serving.max_batch
    # TTFT: a prompt's weight MACs at the replica's peak MAC rate (attention only adds)
    peak_macs = chip.macs_per_s * tp
    per_token = m.layers * (m.attn_params + m.experts_top_k * m.expert_params)
    for r in done:
        assert r.ttft_s >= r.input_tokens * per_token / peak_macs * (1 - 1e-9)
    # TPOT: a decode step streams at least the chip's share of the layers' weights at peak bandwidth
    layer_bytes = m.layers * (m.attn_params + m.experts_top_k * m.expert_params) * 2 / tp  # fp16
    for r in done:
        if r.tpot_s is not None:
            assert r.tpot_s >= layer_bytes / chip.memory.peak_bytes_per_s * (1 - 1e-9)


SHAPES = [dict(prefill_tokens=4096, prefill_pairs=4096 * 4097 / 2, outputs=1),
          dict(decode_seqs=256, decode_context=256 * 1500, prefill_tokens=512, prefill_pairs=512 * 513 / 2,
               outputs=257),
          dict(decode_seqs=256, decode_context=256 * 3000, outputs=256)]


@pytest.mark.parametrize("server", ["h100x1", "a100x1"])
def test_a_gpu_at_its_power_limit_slows_down(server: str) -> None:
    """A step on a GPU takes at least its dynamic energy over the power its limit leaves above the static
    draw (a GPU at its limit lowers its clock). A100, 256 decodes with a 512-token chunk: at full clock
    the step would draw more than 400 W, so the limit sets its time."""
    from twin.serving.cost import StepShape
    sim = RunSpec(server, "llama2-7b").build()
    cost, chip = sim.replicas[0].cost, sim.cluster.server.chip
    e = chip.energy
    budget = chip.tdp_w - e.static_w - chip.memory.stacks * e.memory_static_w_per_stack
    bound = []
    for shape in SHAPES:
        step = StepShape(**shape)
        layer = cost.layer(step)
        # the small kernels' activation traffic runs (and draws) outside the busy window, in its own time
        between = step.tokens * cost.elementwise_bytes
        joules = layer.macs * e.pj_per_mac * PJ + (layer.mem_bytes - between) * e.pj_per_mem_byte * PJ
        # what the matmul kernels take beyond the busy max (exposed overlap, kernels in turn) is inside the window
        beyond = cost.matmuls_overlap_s(step.tokens) + cost.matmuls_in_turn_s(step.tokens)
        assert layer.busy_s == pytest.approx(max(layer.compute_s, layer.mem_s, layer.vxe_s, joules / budget - beyond))
        assert layer.busy_s + beyond >= joules / budget * (1 - 1e-12)
        assert layer.time_s >= (joules + between * e.pj_per_mem_byte * PJ) / budget  # the whole layer's energy
        bound.append(joules / budget > max(layer.compute_s, layer.mem_s))
    if server == "a100x1":
        assert bound[1], "the A100's 400 W limit sets a mixed step's time"
