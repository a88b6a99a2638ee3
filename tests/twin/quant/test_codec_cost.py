"""Oaken's KV codec on the chip: the three calibrated overheads, and what they predict.

(a) Calibrated (twin/catalog/calibration.yaml `kv_codec`, reference §2): Llama2-7B,
    batch 64, 1K:1K on oaken-lpddr. Over the decode steps at contexts 1024..2047, the
    quantization engine's exposed time is 1.29 % and the dequantization engine's 3.23 %
    of the steps' summed latency, and attention (KV streaming plus dequantization) is
    55 % shorter than with FP16 KV. Each within 1 point. The shares are of summed
    latency (a time-weighted mean over the steps), which is what "of latency" means
    for a run; the plain mean of per-step shares differs by < 0.1 point.
(b) Simulated, same platform, batch 256: Oaken decodes faster than FP16 KV and holds
    more requests, and the run's own figures say why (fewer bytes per decoded token,
    more KV capacity, no preemption).
(c) Not fitted: the same parameters on the HBM platform with Llama2-13B, and an
    'oaken' KV policy on a chip without the codec (the LPU ASIC).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from twin.catalog import load_model, load_server
from twin.config import ServingConfig
from twin.quant import QuantPolicy
from twin.replay import RunSpec
from twin.serving.cost import CostModel, StepShape
from twin.serving.request import TraceRequest

CONTEXTS = range(1024, 2048)  # a 1K:1K request's decode steps attend 1024..2047 tokens


def _cost(kv: str, model: str = "llama2-7b", server: str = "oaken-lpddr", tp: int = 1) -> CostModel:
    return CostModel(load_model(model), load_server(server), tp, QuantPolicy.named(kv=kv))


def _decode(batch: int, context: int) -> StepShape:
    return StepShape(decode_seqs=batch, decode_context=batch * context, outputs=batch)


def _codec_shares(cm: CostModel, batch: int) -> tuple[float, float]:
    """(quantization, dequantization) share of summed step latency over the decode steps, in %."""
    hz = cm.server.chip.clock_ghz * 1e9
    layers = cm.model.layers
    quant = dequant = total = 0.0
    for c in CONTEXTS:
        s = _decode(batch, c)
        layer = cm.layer(s)
        # The quant engine's exposed part: the step's new K and V elements at its exposed rate;
        # the rest of codec_s is the dequant pipeline filling for each request's history.
        q = s.tokens * 2 * cm.model.kv_dim / cm.tp / (cm.codec.quant_elems_per_cycle * hz)
        quant += layers * q
        dequant += layers * (layer.codec_s - q)
        total += cm.step_time(s)
    return 100 * quant / total, 100 * dequant / total


def _attention(cm: CostModel, batch: int) -> float:
    return sum(cm.model.layers * cm.attention_s(_decode(batch, c)) for c in CONTEXTS)


def test_calibrated_quant_and_dequant_shares_at_batch_64():
    quant, dequant = _codec_shares(_cost("oaken"), 64)
    assert quant == pytest.approx(1.29, abs=1.0)
    assert dequant == pytest.approx(3.23, abs=1.0)
    assert 0 < quant < dequant  # the dequant engine streams every step's whole history


def test_calibrated_attention_55_percent_shorter_than_fp16():
    shorter = 100 * (1 - _attention(_cost("oaken"), 64) / _attention(_cost("fp16"), 64))
    assert shorter == pytest.approx(55.0, abs=1.0)
    # Less than the 70 % the bit ratio alone would give: the sparse COO pages stream slower.
    assert shorter < 100 * (1 - 4.82 / 16)


# ---- (b) and (c): batched 1K:1K runs, as tests/twin/test_calibration.py measures them ----

@dataclass(frozen=True)
class Run:
    throughput: float  # decode tokens per second of decode-only steps
    kv_capacity_tokens: int
    peak_batch: int  # most requests running at once
    mean_batch: float  # requests running, averaged over the run's time
    bytes_per_token: float  # memory bytes per decoded token, per chip
    preemptions: int
    codec_s: float  # time steps waited on the KV codec
    codec_share: float  # ... as a share of the replica's busy time


def run(server: str, model: str, kv: str, batch: int, tp: int = 1) -> Run:
    # Sampling at every scheduling decision, so the batch series misses no change.
    sim = RunSpec(server, model, tp=tp, kv=kv, serving=ServingConfig(max_batch=batch, sample_every_s=1e-9)).build()
    for i in range(batch):
        sim.submit(TraceRequest(i, 0.0, 1024, 1024))
    sim.run()
    st = sim.replicas[0].stats
    series = [x for x in sim.recorder.series if x.name == "replica0/batch"]
    ends = [x.t_s for x in series[1:]] + [sim.now_s]
    mean_batch = sum(x.value * (end - x.t_s) for x, end in zip(series, ends)) / (sim.now_s - series[0].t_s)
    return Run(st.decode_tokens / st.decode_busy_s, sim.memory.kv_blocks * sim.serving.block_tokens,
               int(max(x.value for x in series)), mean_batch, st.mem_bytes / st.decode_tokens,
               st.preemptions, st.codec_s, st.codec_s / st.busy_s)


def test_oaken_on_lpddr_beats_fp16_at_batch_256_for_visible_reasons():
    fp16, oaken = (run("oaken-lpddr", "llama2-7b", kv, 256) for kv in ("fp16", "oaken"))
    assert oaken.throughput > 1.5 * fp16.throughput
    # Capacity: FP16 holds fewer than 256 full (2,048-token) requests, Oaken all of them.
    assert fp16.kv_capacity_tokens < 256 * 2048 <= oaken.kv_capacity_tokens
    # FP16 admits all 256 at 1K context, then preempts as contexts grow; Oaken keeps them.
    assert fp16.preemptions > 0 == oaken.preemptions
    assert oaken.peak_batch >= fp16.peak_batch and oaken.mean_batch > fp16.mean_batch
    # Bytes: each decoded token moves about a third of the memory traffic (4.82 vs 16 bit KV).
    assert oaken.bytes_per_token < 0.5 * fp16.bytes_per_token
    # The codec is not free: its exposed time is charged, a few percent of the run.
    assert 0 < oaken.codec_share < 0.1


def test_oaken_on_hbm_beats_fp16_for_llama2_13b():
    fp16, oaken = (run("oaken-hbm", "llama2-13b", kv, 256) for kv in ("fp16", "oaken"))
    assert oaken.throughput > fp16.throughput
    assert oaken.kv_capacity_tokens > fp16.kv_capacity_tokens
    assert oaken.peak_batch > fp16.peak_batch  # 80 GB: FP16 KV runs out long before 256 requests


def test_oaken_policy_on_a_chip_without_codec_saves_bytes_at_no_codec_cost():
    fp16, oaken = _cost("fp16", server="lpu-8x-4nm", tp=8), _cost("oaken", server="lpu-8x-4nm", tp=8)
    assert load_server("lpu-8x-4nm").chip.kv_codec is None
    shape = _decode(64, 1536)
    assert oaken.layer(shape).codec_s == 0 and oaken.codec_time(shape) == 0
    assert oaken.kv_token_layer_bytes < 0.35 * fp16.kv_token_layer_bytes
    assert oaken.layer(shape).mem_bytes < fp16.layer(shape).mem_bytes
    small = run("lpu-8x-4nm", "llama2-7b", "oaken", 16, tp=8)
    assert small.codec_s == 0
    assert small.kv_capacity_tokens > run("lpu-8x-4nm", "llama2-7b", "fp16", 16, tp=8).kv_capacity_tokens
