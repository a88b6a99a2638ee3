"""Oaken's KV codec on the chip: calibrated on end-to-end seconds, checked on what the paper says of it.

(a) Calibrated (calibration.yaml `kv_codec`, reference §6.1, Oaken Fig. 12(b)): Llama2-7B,
    1K:1K on oaken-lpddr, the seconds for the whole batch at batch 16 / 32 / 64, for the
    LPU baseline (FP16 KV; not fitted here, it follows from the memory calibration) and for
    Oaken. Measured as the CLI reports it: batch x 1024 tokens / decode-only throughput.
(b) Predicted (reference §2): quantization 1.29 % and dequantization 3.23 % of latency at
    batch 64, and attention 55 % shorter than with FP16 KV. The paper's own Fig. 12(b) reads
    1 - 18.5/50 = 63 % for the last, so a prediction anywhere in 55..63 % (plus the ±1 point
    of digitization) agrees with the paper; the codec seconds are read to ±0.5 s of a 31 s run,
    so each share is checked to ±1.6 points.
(c) Physics of the layout, checked independently of the cost formulas: the bytes and pages
    the codec streams equal those of an explicit page table filled with what the Oaken
    encoder stores; sparse pages stream at nearly full bandwidth; the dequant engines bind
    only at small batches.
(d) Simulated consequences at batch 256 and on other platforms.
(e) Decode's dequantization shared over the cores: one request per core (the calibrated design), or the MMU's
    per-head pages spread over every core's engine (chip.kv_codec.decode_spread: head).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from twin.catalog import load_model, load_server
from twin.config import ServingConfig
from twin.quant import QuantPolicy
from twin.quant.activations import SyntheticKv, synthetic_kv
from twin.quant.algos import make_encoder
from twin.quant.algos.base import Part
from twin.replay import RunSpec
from twin.serving.cost import CostModel, StepShape
from twin.serving.request import TraceRequest

FIG12B = {"fp16": {16: 24.9, 32: 36.0, 64: 61.0}, "oaken": {16: 18.4, 32: 21.0, 64: 31.0}}
# Worst errors achieved: FP16 2.1 %, Oaken 2.5 %; tolerances 1.5x those (reference §6.1).
FIG12B_REL = {"fp16": 0.031, "oaken": 0.038}


def _cost(kv: str, model: str = "llama2-7b", server: str = "oaken-lpddr", tp: int = 1) -> CostModel:
    return CostModel(load_model(model), load_server(server), tp, QuantPolicy.named(kv=kv))


def _decode(batch: int, context: int) -> StepShape:
    return StepShape(decode_seqs=batch, decode_context=batch * context, outputs=batch)


def batch_seconds(kv: str, batch: int) -> float:
    """Seconds for `batch` 1K:1K requests: batch x 1024 output tokens at the decode-only throughput."""
    sim = RunSpec("oaken-lpddr", "llama2-7b", kv=kv, serving=ServingConfig(max_batch=batch)).build()
    for i in range(batch):
        sim.submit(TraceRequest(i, 0.0, 1024, 1024))
    sim.run()
    st = sim.replicas[0].stats
    return batch * 1024 / (st.decode_tokens / st.decode_busy_s)


@pytest.mark.parametrize("kv", ["fp16", "oaken"])
@pytest.mark.parametrize("batch", [16, 32, 64])
def test_fig12b_end_to_end_seconds(kv, batch):
    assert batch_seconds(kv, batch) == pytest.approx(FIG12B[kv][batch], rel=FIG12B_REL[kv])


# ---- (b) the paper's percentages, predicted --------------------------------------------------

def _shares_at_batch_64() -> tuple[float, float, float]:
    """(quant %, dequant % of summed latency, attention % shorter than FP16) over contexts 1024..2047."""
    oaken, fp16 = _cost("oaken"), _cost("fp16")
    layers = oaken.model.layers
    quant = dequant = total = attn = attn_fp16 = 0.0
    for c in range(1024, 2048):
        s = _decode(64, c)
        q, d = oaken.codec_parts(s)
        quant, dequant, total = quant + layers * q, dequant + layers * d, total + oaken.step_time(s)
        attn, attn_fp16 = attn + oaken.attention_s(s), attn_fp16 + fp16.attention_s(s)
    return 100 * quant / total, 100 * dequant / total, 100 * (1 - attn / attn_fp16)


def test_quant_and_dequant_shares_predicted_within_what_the_figure_allows():
    quant, dequant, _ = _shares_at_batch_64()
    assert quant == pytest.approx(1.29, abs=1.6)
    assert dequant == pytest.approx(3.23, abs=1.6)
    assert 0 < quant < dequant  # the dequant engines handle every step's whole history


def test_attention_shorter_within_the_papers_two_statements():
    _, _, shorter = _shares_at_batch_64()
    assert 55.0 - 1 <= shorter <= 63.0 + 1
    assert shorter < 100 * (1 - 4.82 / 16)  # page opens and fills: less than the bit ratio alone


# ---- (c) the layout's physics ------------------------------------------------------------------

def _encoder_bytes_per_head_token(model) -> tuple[float, float]:
    """(dense + metadata, sparse) bytes the Oaken encoder stores per token and head of `model`'s K."""
    spec = SyntheticKv(channels=model.kv_dim)
    enc = make_encoder("oaken", "k", [synthetic_kv(spec, "k", 64, batch=b).values for b in range(3)])
    x = synthetic_kv(spec, "k", 256, batch=7).values
    bits = enc.encode(x).bits_by_part()
    tokens, heads = x.shape[0], model.kv_heads
    return (bits[Part.DENSE] + bits[Part.META]) / 8 / tokens / heads, bits[Part.SPARSE] / 8 / tokens / heads


def test_codec_streams_what_an_explicit_page_table_holds():
    cm = _cost("oaken")
    dense, sparse = _encoder_bytes_per_head_token(cm.model)
    page, burst = cm.codec.spec.page_bytes, cm.codec.spec.burst_bytes
    streams = 2 * cm.model.kv_heads  # K and V of every head, each a dense and a sparse stream
    pages = nbytes = model_pages = model_bytes = 0.0
    for c in range(1024, 2048):
        for per_token in (dense, sparse):
            pages += streams * math.ceil(c * per_token / page)
            nbytes += streams * math.ceil(c * per_token / burst) * burst
        model_pages += cm.codec.pages(1, c)
        model_bytes += cm.codec.history_bytes(1, c)
    assert model_bytes == pytest.approx(nbytes, rel=0.01)
    assert model_pages == pytest.approx(pages, rel=0.01)


def test_sparse_pages_stream_at_nearly_full_bandwidth():
    """An MMU that reads history in bursts loses only row opens: not the 28.5 % of the old fit."""
    cm = _cost("oaken")
    nbytes = cm.codec.history_bytes(64, 64 * 1536)
    assert nbytes / cm.codec.stream_s(64, 64 * 1536) > 0.85 * cm.bw


def test_dequant_engines_bind_at_batch_16_and_hide_at_64():
    cm = _cost("oaken")
    small, large = cm.codec_step(_decode(16, 1536)), cm.codec_step(_decode(64, 1536))
    assert small.dequant_s > small.kv_stream_s  # one engine per request, little memory traffic
    assert large.dequant_s < large.kv_stream_s
    # so the exposed dequantization per request falls as the batch grows
    assert small.dequant_exposed_s / 16 > large.dequant_exposed_s / 64


# ---- (d) batched 1K:1K runs ----------------------------------------------------------------------

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
    assert oaken.peak_batch == 256 >= fp16.peak_batch
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


def test_codec_bytes_follow_the_encoder_not_a_constant():
    dense, sparse = _encoder_bytes_per_head_token(load_model("llama2-7b"))
    assert sparse / (dense + sparse) == pytest.approx(0.8 / 4.82, rel=0.05)  # 10 % x 8 bits of 4.82
    assert np.isfinite(dense)


# ---- (e) decode's dequantization over the cores: one request per core, or the MMU's heads spread ------------------

def _seconds(server: str, batch: int, spread: str) -> float:
    sim = RunSpec(server, "llama2-7b", kv="oaken", serving=ServingConfig(max_batch=batch),
                  overrides={"chip.kv_codec.decode_spread": spread}).build()
    for i in range(batch):
        sim.submit(TraceRequest(i, 0.0, 1024, 1024))
    sim.run()
    st = sim.replicas[0].stats
    return batch * 1024 / (st.decode_tokens / st.decode_busy_s)


def test_head_spread_decodes_a_mean_heads_history_per_wave_of_engine_streams():
    import yaml
    from importlib import resources
    cal = yaml.safe_load(resources.files("twin.catalog").joinpath("calibration.yaml").read_text())
    rate = cal["kv_codec"]["dequant_elems_per_cycle"] * 1e9  # 1 GHz
    server = RunSpec("oaken-hbm", "llama2-7b", overrides={"chip.kv_codec.decode_spread": "head"}).server_spec()
    cm = CostModel(load_model("llama2-7b"), server, 1, QuantPolicy.named(kv="oaken"))
    for batch in (4, 16, 40):
        waves = math.ceil(batch * 32 / 256)  # (request, head) streams over 256 engines
        expected = waves * 1536 * 2 * 128 / rate  # a mean head's K and V history
        assert cm.codec_step(_decode(batch, 1536)).dequant_s == pytest.approx(expected, rel=1e-12)


def test_oaken_hbm_scales_with_bandwidth_only_when_heads_spread():
    """Batch 16: one engine per request binds on HBM (the calibrated design gains 1.43x for 1.82x the
    bandwidth); spread over the heads it gains close to the bandwidth ratio (2.0 / 1.1 TB/s)."""
    request = _seconds("oaken-lpddr", 16, "request") / _seconds("oaken-hbm", 16, "request")
    head = _seconds("oaken-lpddr", 16, "head") / _seconds("oaken-hbm", 16, "head")
    assert request < 1.5
    assert 1.7 < head < 2.0 / 1.1
