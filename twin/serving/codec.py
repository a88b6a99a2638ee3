"""Oaken's KV codec on the chip: paged dense and sparse KV, and the quant/dequant engines.

What is modelled (Oaken, ISCA'25, §4.5, §5, Fig. 4c):
- Layout. The MMU splits each token's K and V per head and appends them to per-head
  pages: a *dense* stream (4-bit codes, plus the token's min/max metadata) and a *sparse*
  stream (8-bit COO entries for the ~10 % outliers). Reading a request's history is two
  sequential streams per head and per K/V, in pages of `page_bytes`.
- Memory cost of that layout. Bytes stream at the sustained bandwidth in bursts of
  `burst_bytes` (each stream's last, partial burst is wasted), and every page the MMU
  opens costs a row precharge and activation (`page_open_ns`) on the channel that holds
  it while the other channels keep streaming: 1/channels of that time for the whole
  memory. The management tables are on-chip, so the walk itself hides. Sparse pages are read
  like dense ones: no separate "sparse efficiency".
- Dequantization. Each core's dequant engine decodes `dequant_elems_per_cycle`; in
  decode one request runs per core (Oaken §5.3), so a request's whole history goes
  through one engine (``decode_spread: request``, the calibrated platforms). A design
  that hands the MMU's per-head pages to every core (``decode_spread: head``) spreads a
  request's heads over idle engines instead. The pipeline hides itself under the KV stream while the stream
  is slower; when it is faster (small batches: little traffic, one engine per request)
  the difference shows. Each request's K and V phases also fill the pipeline once per
  layer (`dequant_fill_cycles`).
- Quantization. New K/V vectors need their own min/max before they can be quantized,
  so the quant engines cannot stream them under the producer; their time is exposed at
  `quant_elems_per_cycle` over the chip.
The FP16 baseline (no codec) reads contiguous KV: bytes at the sustained bandwidth only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin.config import KvCodecSpec

KV_PHASES = 2  # K, then V: each streams the history and fills the dequant pipeline once per layer


@dataclass(frozen=True)
class CodecStep:
    """A layer's codec costs on one chip, for one step."""

    kv_stream_s: float  # memory time to stream the history (bytes, burst waste, page opens)
    dequant_s: float  # time the dequant engines need for it, if nothing else waited
    quant_s: float  # exposed quantization of the new K/V
    fill_s: float  # dequant pipeline fills

    @property
    def dequant_exposed_s(self) -> float:
        return max(0.0, self.dequant_s - self.kv_stream_s) + self.fill_s

    @property
    def attention_s(self) -> float:
        """History streaming with dequantization: the slower of the two, plus the fills."""
        return max(self.kv_stream_s, self.dequant_s) + self.fill_s

    @property
    def exposed_s(self) -> float:
        return self.quant_s + self.dequant_exposed_s


class KvCodec:
    """Costs of `spec`'s engines and paged layout for one model on one chip of a `tp` replica."""

    def __init__(self, spec: KvCodecSpec, kv_heads: float, head_dim: int, dense_head_bytes: float,
                 sparse_head_bytes: float, clock_hz: float, bytes_per_s: float, channels: int):
        self.spec, self.hz, self.bw, self.channels = spec, clock_hz, bytes_per_s, channels
        self.heads = kv_heads  # per chip
        self.head_dim = head_dim
        self.dense, self.sparse = dense_head_bytes, sparse_head_bytes  # per token, per head, per K or V

    def streams(self, seqs: int) -> float:
        """Page streams a step's history reads: per request, head and K/V, one dense and one sparse."""
        return seqs * KV_PHASES * self.heads * 2

    def history_bytes(self, seqs: int, context: float) -> float:
        """Bytes streamed for `seqs` requests attending `context` tokens in all: codes plus burst tails."""
        payload = context * KV_PHASES * self.heads * (self.dense + self.sparse)
        return payload + self.streams(seqs) * self.spec.burst_bytes / 2

    def pages(self, seqs: int, context: float) -> float:
        """Pages opened: every full page, and each stream's last, partial one (on average half-used)."""
        per_token = KV_PHASES * self.heads * (self.dense + self.sparse)
        return context * per_token / self.spec.page_bytes + self.streams(seqs) / 2

    def stream_s(self, seqs: int, context: float) -> float:
        page_s = self.spec.page_open_ns * 1e-9 / self.channels
        return self.history_bytes(seqs, context) / self.bw + self.pages(seqs, context) * page_s

    def dequant_s(self, seqs: int, context: float, past: int) -> float:
        """The busiest engine's decoding time. Decode: one request per core (``request``, Oaken §5.3), so an
        engine decodes a mean request's history per wave of `engines` requests; or (``head``) the MMU's
        per-head pages go to any core, so an engine decodes a mean head's history per wave of `engines`
        (request, head) streams. Re-read prompt chunks spread over the cores either way."""
        elems = KV_PHASES * self.heads * self.head_dim
        rate = self.spec.dequant_elems_per_cycle * self.hz
        mean = context / seqs if seqs else 0.0
        if self.spec.decode_spread == "head":
            units = seqs * self.heads
            waves = math.ceil(units / self.spec.engines) if units else 0
            decode = waves * mean * KV_PHASES * self.head_dim / rate
        else:
            decode = (math.ceil(seqs / self.spec.engines) if seqs else 0) * mean * elems / rate
        return decode + past * elems / (rate * self.spec.engines)  # re-read prompt chunks spread over cores

    def step(self, seqs: int, context: float, past: int, new_tokens: int) -> CodecStep:
        streams = seqs + (1 if past else 0)
        quant = new_tokens * KV_PHASES * self.heads * self.head_dim / (self.spec.quant_elems_per_cycle * self.hz)
        fill = streams * KV_PHASES * self.spec.dequant_fill_cycles / self.hz
        stream = self.stream_s(seqs + (1 if past else 0), context + past)
        return CodecStep(stream, self.dequant_s(seqs, context, past), quant if new_tokens else 0.0, fill)
