"""The per-operation cost model shared by both fidelities.

One decoder layer on one chip of a tensor-parallel replica, for a batch step of a
given shape: bytes the SMA streams from memory (weights, KV history, new KV), MACs
on the SXE trees, elements through the VXE, and the ESL all-gathers. Decode comes
out bandwidth-bound (weights stream once per step, reused by every token of the
batch) and prefill compute-bound (every prompt token multiplies every weight),
from the same formula: time = max(memory, compute, vector) + exposed ESL.

ESL (LPU paper, Fig. 4): every column-split matmul's output is all-gathered around
the ring, chunk by chunk while the next chunk computes, so a gather costs only the
part that does not fit under its producer's time, plus one chunk's tail. After FC1
the tail is hidden by FC2 (back-to-back), so a layer exposes three tails, not four.

Expert parallelism (ep = tp chips, each holding experts / ep whole experts; attention stays
tensor-parallel over the same chips): after attention each chip takes its 1/ep share of the
step's tokens and sends each token's hidden vector to the chips of its top-k experts (the
dispatch all-to-all), the experts run, and the results come back (the combine all-to-all);
each direction moves tokens x hidden x 2 bytes x top-k x (ep - 1) / ep over the link that
joins the chips. An all-gather then gives every chip all tokens for the next attention (on
NVLink, O's all-reduce becomes a reduce-scatter, and this all-gather is its other half). The
routing and placement (twin.serving.moe) decide each chip's experts and tokens; the busiest
chip sets the layer's time, while bytes and MACs, for energy, stay the chips' mean.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from twin.config import ModelSpec, ServerSpec
from twin.energy import PJ
from twin.errors import InvalidSpec
from twin.hw.engines import (TensorCores, attention_seconds, attention_tail_s, decode_blocks_seconds,
                             engine_seconds, kernel_tail_s, masked_keys_per_prompt_token, overlap_exposed_s)
from twin.quant.schemes import FP16_BYTES, QuantPolicy
from twin.serving.codec import KvCodec
from twin.serving.moe import MoeRouting

VXE_OPS_PER_HIDDEN = 8  # two norms (~3 passes each) and two residual adds per token per layer
# Kernels of a layer too small to hide their launch on a GPU: two norms, two residual adds, the
# activation and the softmax (a gated MLP adds its multiply). The matmuls and attention are long
# enough to cover the next launch at batch 1 (their time is already in memory/compute).
LAUNCH_BOUND_KERNELS = 6
MATMUL_KERNELS = 4  # QKV, O, FC1 (gate and up fused), FC2


class StepShape(NamedTuple):
    """What one batch step of a replica processes (a tuple: made at every step, and a cache key)."""

    decode_seqs: int = 0  # sequences generating one token
    decode_context: float = 0  # sum of attended context over those sequences (a mean rate per step when speculating)
    prefill_tokens: int = 0  # prompt tokens processed this step
    prefill_pairs: float = 0.0  # query-key pairs attended by those prompt tokens
    prefill_past: int = 0  # earlier-chunk KV tokens re-read by chunked prefills
    outputs: int = 0  # sequences sampling a token at the end of the step

    @property
    def tokens(self) -> int:
        return self.decode_seqs + self.prefill_tokens


class LayerCost(NamedTuple):
    """One layer on one chip: bytes, MACs, vector elements, and the ESL time left exposed (a tuple: one is
    made for every new step shape, and a frozen dataclass takes three times as long to make)."""

    mem_bytes: float
    macs: float
    vxe_elems: float
    esl_exposed_s: float
    esl_bytes: float
    mem_s: float
    compute_s: float
    vxe_s: float
    codec_s: float = 0.0  # KV quantization/dequantization the codec pipelines could not hide
    # GPUs: time outside the stream / compute overlap: the launch-bound kernels of the layer (norms, adds,
    # activation, softmax), its matmul and attention kernels' fill and drain, and what each matmul's pipeline
    # leaves exposed of its shorter phase (twin.hw.engines.overlap_exposed_s)
    launch_s: float = 0.0
    power_s: float = 0.0  # the least time its dynamic energy takes within the chip's power limit (0: no limit)
    # A pipeline's step lasts longer than its chips work: m micro-batches through N stages take m + N - 1
    # stage slots of which each stage works m. The work fields are per chip; time is stretched by this.
    stretch: float = 1.0
    # GPUs: the memory time with the decode attention's KV stream replaced by its blocks' dependent chains, in
    # waves over the SMs (twin.hw.engines.decode_blocks_seconds); 0 elsewhere. Constant in the context, so
    # a decode run stays a max of affine pieces (twin.serving.shape_cost).
    blocks_s: float = 0.0

    @property
    def busy_s(self) -> float:
        return max(self.mem_s, self.compute_s, self.vxe_s, self.power_s, self.blocks_s)

    @property
    def time_s(self) -> float:
        return (self.busy_s + self.esl_exposed_s + self.codec_s + self.launch_s) * self.stretch


class CostModel:
    """Closed-form step costs for `model` on `tp` chips of `server` under `policy`."""

    def __init__(self, model: ModelSpec, server: ServerSpec, tp: int, policy: QuantPolicy,
                 routing: MoeRouting = MoeRouting(), pp: int = 1, micro_batches: int = 0, ep: int = 1):
        self.model, self.server, self.tp, self.policy, self.routing = model, server, tp, policy, routing
        self.ep = check_ep(model, tp, ep)  # expert parallelism: the experts spread over the tp chips
        # Pipeline parallelism: the layers in `pp` stages of `tp` chips; a step's batch split in up to
        # `micro_batches` micro-batches (default: one per stage) that flow through the stages
        self.pp, self.micro_batches = pp, micro_batches or pp
        self.stage_layers = -(-model.layers // pp)  # the largest stage's layers
        self.stage_links = _stage_links(server, tp, pp)  # (latency s, bytes/s) of each stage boundary
        self.shape_cache: Any = None  # its per-shape cache (twin.serving.shape_cost.shape_costs), made on first use
        chip = server.chip
        self.bw = chip.memory.sustained_bytes_per_s
        self.wbw = chip.weight_bytes_per_s  # weights (a GPU stack's GEMV kernels may stream them faster)
        self.macs_per_s = chip.macs_per_s
        self.vxe_per_s = chip.vxe_lanes * chip.clock_ghz * 1e9
        n, vectors = model.kv_dim, model.kv_vectors  # K and V vectors (MLA: one latent) per token and layer
        # More chips than KV heads: each chip keeps a whole KV head, so the replica holds tp / kv_heads
        # copies of each (as vLLM replicates them); the replica's KV bytes per token grow by that factor
        self.kv_replication = kv_replication(model, tp)
        self.kv_token_layer_bytes = vectors * policy.kv_mean(lambda s: s.bytes_per_vector(n)) * self.kv_replication
        codec = chip.kv_codec
        handled = (lambda s: codec is not None and s.name in codec.schemes)
        self.codec_share = policy.kv_mean(lambda s: 1.0 if handled(s) else 0.0)
        self.vxe_share = policy.quantized_kv_share - self.codec_share  # (de)quantized on the VXE
        # History the codec does not handle is contiguous: it streams at the sustained bandwidth.
        self.kv_plain_bytes = vectors * policy.kv_mean(lambda s: 0.0 if handled(s) else s.bytes_per_vector(n)) \
            * self.kv_replication
        self.codec = _codec(codec, model, tp, chip, self.bw, policy, handled) \
            if self.codec_share > 0 else None
        self.link_load, self.hops = _gather_geometry(min(tp, server.chips), server.chips)
        # A tensor-parallel group over several servers: its collectives also cross the servers' network
        self.spans = -(-tp // server.chips)
        if self.spans > 1 and server.network is None:
            raise InvalidSpec("tp", f"tp={tp} spans {self.spans} {server.name} servers, which state no network: "
                                    "add network: to the server's YAML")
        self.engines = chip.compute_engines
        # GPUs run each matmul as its own kernel, one after another (the LPU streams them through one pipeline)
        self.kernel_by_kernel = any(isinstance(e, TensorCores) for e in self.engines)
        # tokens -> exposed ESL s, ESL bytes, matmul s, weight bytes (the chips' mean), weight bytes of the busiest
        # chip (expert parallelism), what the matmul kernels take beyond the layer's one max (overlap, one at a
        # time) in s, the small kernels' traffic in s (twin.serving.cost.CostModel._tokens_part)
        self._by_tokens: dict[int, tuple[float, float, float, float, float, float, float]] = {}
        # Launch-bound kernels, and the fill and drain of the four matmul kernels (QKV, O, FC1, FC2), which
        # show whether a matmul is bound by its MMAs or by its weight stream (GPUs; zero on the LPU)
        self.matmul_tail_s = kernel_tail_s(self.engines[0])
        kernels = chip.fused_kernels or LAUNCH_BOUND_KERNELS + (model.ffn_matrices == 3)  # fused: twin.serving.stack
        self.small_kernels_s = chip.kernel_launch_s * kernels
        self.launch_s = self.small_kernels_s + MATMUL_KERNELS * self.matmul_tail_s + attention_tail_s(self.engines[0])
        # GPUs: the activations those small kernels read and write in memory, per token (the LPU keeps them on chip)
        self.fused = chip.fused_kernels > 0
        self.elementwise_bytes = _elementwise_bytes_per_token(model, tp, self.fused) if self.kernel_by_kernel else 0.0
        # GPUs: the decode attention kernel's (sequence, KV head) blocks per chip (a whole head where tp > kv_heads)
        self.decode_block_s = getattr(self.engines[0], "decode_block_s", 0.0)
        self.kv_heads_per_chip = max(model.kv_heads // tp, 1)
        self.row_parallel = server.link.kind == "nvlink"
        self.gathers = self._gathers()
        self.power = _power_limit(chip, server.link.pj_per_byte)  # (J per MAC, per byte, per link byte, W), or None
        # Fixed for the cost model, read by every layer(): MACs per token, and the attention's MAC rate
        self._per_token = model.active_layer_params
        self._masked_keys = masked_keys_per_prompt_token(self.engines[0])

    # ---- weights -------------------------------------------------------------------
    def active_experts(self, tokens: int) -> float:
        """Expected distinct experts a step's tokens stream, under the chosen routing (twin.serving.moe)."""
        return self.routing.active_experts(self.model.experts, self.model.experts_top_k, tokens)

    def pipeline_weight_bytes(self) -> float:
        """Resident weight bytes per chip of the largest pipeline stage: its layers, and the embedding or the
        LM head (the first stage holds one, the last the other)."""
        m = self.model
        ends = max(m.embedding_params, 0 if m.tied_embeddings else m.head_params)
        return self.policy.weights.bytes_for(self.stage_layers * m.layer_params + ends) / self.tp

    def layer_weight_bytes(self, tokens: int) -> float:
        m = self.model
        params = m.streamed_layer_params(self.active_experts(tokens))
        return self.policy.weights.bytes_for(params) / self.tp

    def busiest_chip(self, tokens: int) -> tuple[float, float]:
        """(experts streamed, tokens computed) by the busiest chip under expert parallelism (twin.serving.moe)."""
        m = self.model
        return self.routing.busiest_chip(m.experts, m.experts_top_k, self.ep, tokens)

    def hot_weight_bytes(self, tokens: int) -> float:
        """Weight bytes the busiest chip streams for a layer: its share of attention and the router, and its
        active experts whole (expert parallelism); the mean chip's otherwise."""
        if self.ep == 1:
            return self.layer_weight_bytes(tokens)
        m, w = self.model, self.policy.weights
        shared = w.bytes_for(m.attn_params + m.hidden * m.experts) / self.tp
        return shared + w.bytes_for(self.busiest_chip(tokens)[0] * m.expert_params)

    def weight_bytes(self) -> float:
        """Resident weight bytes per chip: all experts, the embedding, and the LM head unless tied to it.

        A tied head is the embedding matrix read a second way, so it is resident once
        (ModelSpec.params counts it once); it still streams every step (head_time). Under pipeline
        parallelism, the largest stage's.
        """
        if self.pp > 1:
            return self.pipeline_weight_bytes()
        return self.policy.weights.bytes_for(self.model.params) / self.tp

    # ---- one layer -----------------------------------------------------------------
    def layer(self, s: StepShape) -> LayerCost:
        """One layer on one chip; under pipeline parallelism, one layer-equivalent of a chip's share of the
        step (its stage's layers over all micro-batches), whose time includes the pipeline's bubble."""
        if self.pp == 1:
            return self.stage_layer(s)
        return self._pipelined(s)

    def micro(self, s: StepShape) -> tuple[int, StepShape]:
        """(micro-batches, the largest one's shape) of a step split for the pipeline: sequences and prompt
        tokens shared out, each micro-batch attending its share of the context."""
        m = max(1, min(self.micro_batches, max(s.decode_seqs, -(-s.prefill_tokens // 64) if s.prefill_tokens else 0)))
        if m == 1:
            return 1, s
        seqs = -(-s.decode_seqs // m)
        share = seqs / s.decode_seqs if s.decode_seqs else 0.0
        return m, StepShape(seqs, s.decode_context * share, -(-s.prefill_tokens // m), s.prefill_pairs / m,
                            s.prefill_past // m, -(-s.outputs // m))

    def _pipelined(self, s: StepShape) -> LayerCost:
        m, b = self.micro(s)
        c = self.stage_layer(b)
        n, layers = self.pp, self.model.layers
        scale = m * self.stage_layers / layers  # a chip's layers of its stage, for every micro-batch
        stretch = (m + n - 1) / m  # the schedule: m + N - 1 slots, each stage working m of them
        act = b.tokens * self.model.hidden * FP16_BYTES  # one micro-batch's activations, sent at each boundary
        send_s = sum(latency + act / bw for latency, bw in self.stage_links) if b.tokens else 0.0
        # the first micro-batch's trip exposes every boundary once; later ones overlap the next stage's work
        exposed = c.esl_exposed_s * scale + send_s / (layers * stretch)
        sent = c.esl_bytes * scale + m * (n - 1) * act / (self.tp * n) / layers  # per chip, per layer-equivalent
        return LayerCost(c.mem_bytes * scale, c.macs * scale, c.vxe_elems * scale, exposed, sent, c.mem_s * scale,
                         c.compute_s * scale, c.vxe_s * scale, c.codec_s * scale, c.launch_s * scale,
                         c.power_s * scale, stretch, c.blocks_s * scale)

    def stage_layer(self, s: StepShape) -> LayerCost:
        """One layer of the model on one chip of a tensor-parallel group, for a step (or micro-batch) `s`."""
        m, tp, tokens = self.model, self.tp, s.tokens
        exposed, esl_bytes, matmuls_s, weight_bytes, hot, kernels_s, elementwise_s = self._by_tokens.get(tokens) \
            or self._tokens_part(tokens)
        history = s.decode_context + s.prefill_past
        kv_write = tokens * self.kv_token_layer_bytes / tp
        plain = weight_bytes + history * self.kv_plain_bytes / tp + kv_write
        # GPUs: the small kernels' activations, streamed between the matmuls: their time is outside the busy window
        # (launch_s, elementwise_s), and so is their energy (at most the bandwidth's worth of power: within TDP)
        elementwise = tokens * self.elementwise_bytes
        codec = self.codec_step(s)
        # the busiest chip streams for the time (expert parallelism: its whole experts); the mean one for energy
        mem_bytes = plain + elementwise
        if self.wbw == self.bw:
            mem_s = (plain if hot == weight_bytes else plain - weight_bytes + hot) / self.bw
        else:  # a GPU stack streams weights at its own rate
            mem_s = (plain - weight_bytes) / self.bw + hot / self.wbw
        if codec is not None:
            assert self.codec is not None  # a codec step comes from the codec
            mem_bytes += self.codec_share * self.codec.history_bytes(s.decode_seqs + (1 if s.prefill_past else 0),
                                                                     history)
            mem_s += self.codec_share * codec.kv_stream_s
        attn_pairs = s.decode_context + s.prefill_pairs
        attn_macs = m.pair_macs * attn_pairs if not m.mla else _latent_attention_macs(m, s)
        macs = (tokens * self._per_token + attn_macs) / tp
        vxe = (tokens * VXE_OPS_PER_HIDDEN * m.hidden + m.heads * attn_pairs) / tp
        if self.vxe_share:  # no engine for this format: the VXE (de)quantizes, overlapped
            vxe += self.vxe_share * (history + tokens) * m.kv_vectors * m.kv_dim / tp
        codec_s = self.codec_share * codec.exposed_s if codec is not None else 0.0
        compute_s = matmuls_s + self.attention_macs_s(attn_pairs, s.prefill_tokens, attn_macs)
        power_s = 0.0
        if self.power is not None:  # at its power limit the chip slows: the energy sets a floor on the time
            j_mac, j_byte, j_link, budget_w = self.power
            # the floor covers the matmul kernels' whole time, so the part they spend beyond the busy max
            # (kernels_s, added after it) counts toward it: the layer lasts max(busy + kernels_s, energy / W)
            power_s = max(0.0, (macs * j_mac + (mem_bytes - elementwise) * j_byte + esl_bytes * j_link) / budget_w
                          - kernels_s)
        # GPUs: the decode attention kernel takes the longer of its KV stream and its blocks' chains
        blocks_s = mem_s - s.decode_context * self.kv_plain_bytes / tp / self.bw + self.decode_blocks_s(s.decode_seqs) \
            if self.decode_block_s and s.decode_seqs else 0.0
        return LayerCost(mem_bytes, macs, vxe, exposed, esl_bytes, mem_s, compute_s, vxe / self.vxe_per_s,
                         codec_s, self.launch_s + kernels_s + elementwise_s if tokens else 0.0, power_s,
                         blocks_s=blocks_s)

    def _tokens_part(self, tokens: int) -> tuple[float, float, float, float, float, float, float]:
        """The costly parts of a layer that depend on its token count alone (the exposed gathers and
        the bytes they move, the matmul time, the weight bytes streamed (the chips' mean, the busiest chip's),
        what the matmul kernels take beyond the busy max (exposed overlap, kernels in turn), the small kernels'
        traffic), kept per count: steps repeat token counts."""
        esl_s, esl_bytes = self.esl(tokens)
        weights = self.layer_weight_bytes(tokens)
        hot = weights if self.ep == 1 else self.hot_weight_bytes(tokens)
        part = self._by_tokens[tokens] = (esl_s, esl_bytes, self.matmuls_s(tokens), weights, hot,
                                          self.matmuls_overlap_s(tokens) + self.matmuls_in_turn_s(tokens),
                                          self.elementwise_s(tokens))
        return part

    # ---- the KV codec (twin.serving.codec) -------------------------------------------
    def codec_step(self, s: StepShape):
        if self.codec is None or s.tokens == 0:
            return None
        return self.codec.step(s.decode_seqs, s.decode_context, s.prefill_past, s.tokens)

    # ---- compute engines -------------------------------------------------------------
    def matmul_shapes(self, tokens: int) -> list[tuple[float, float, float, float]]:
        """(count, M, K, N per chip) of one layer's weight matmuls.

        ESL gathers every output, so every matmul is column-split (N over tp). GPUs all-reduce after O
        and FC2 (Megatron): those two are row-split (K over tp) and keep the full N, which gives them
        tp times the output tiles of a column split, and so different waves and split-K.
        """
        m, tp = self.model, self.tp
        active = self.active_experts(tokens)
        per_expert = tokens * m.experts_top_k / active  # tokens each active expert sees
        o, fc2 = ((m.o_dim / tp, m.hidden), (m.ffn / tp, m.hidden)) if self.row_parallel \
            else ((m.o_dim, m.hidden / tp), (m.ffn, m.hidden / tp))
        qkv = (m.attn_params - m.o_dim * m.hidden) / m.hidden  # Q, K, V (MLA: its down and up projections)
        if self.ep > 1:  # the busiest chip's whole experts, on the tokens routed to them
            active, load = self.busiest_chip(tokens)
            return [(1, tokens, m.hidden, qkv / tp), (1, tokens, *o),
                    (active, load / active, m.hidden, m.ffn * (m.ffn_matrices - 1)),  # FC1, whole experts
                    (active, load / active, m.ffn, m.hidden)]  # FC2
        shapes = [(1, tokens, m.hidden, qkv / tp),  # Q, K, V
                  (1, tokens, *o),  # O
                  (active, per_expert, m.hidden, m.ffn * (m.ffn_matrices - 1) / tp),  # FC1 (gate + up)
                  (active, per_expert, *fc2)]  # FC2
        return shapes if m.uniform else _mean_layer_shapes(m, shapes, tokens, tp, self.row_parallel)

    def matmul_s(self, m: float, k: float, n: float) -> float:
        """One matmul on the engine that finishes it first."""
        engines = self.engines
        if len(engines) == 1:  # most chips: nothing to choose (a prefill of a new length asks eight times)
            return engine_seconds(engines[0], m, k, n)
        return min(engine_seconds(e, m, k, n) for e in engines)

    def matmuls_s(self, tokens: int) -> float:
        """The layer's weight matmuls for a step of `tokens` tokens."""
        if not tokens:
            return 0.0
        return sum(count * self.matmul_s(mm, k, n) for count, mm, k, n in self.matmul_shapes(tokens))

    def matmul_stream_s(self, m: float, k: float, n: float) -> float:
        """One matmul's operand stream: its weights, its input and its output."""
        weights, acts = self.policy.weights.bytes_for(k * n), (m * k + m * n) * FP16_BYTES
        return (weights + acts) / self.bw if self.wbw == self.bw else weights / self.wbw + acts / self.bw

    def matmul_overlap_s(self, m: float, k: float, n: float) -> float:
        """What one matmul kernel exposes beyond the longer of its operand stream and main loop, on the engine
        that runs it (GPUs; 0 where the engine overlaps them whole)."""
        engines = self.engines
        engine = engines[0] if len(engines) == 1 else min(engines, key=lambda e: engine_seconds(e, m, k, n))
        if not getattr(engine, "overlap_exposed", 0.0):
            return 0.0
        return overlap_exposed_s(engine, self.matmul_stream_s(m, k, n), m, k, n)

    def matmuls_overlap_s(self, tokens: int) -> float:
        """The layer's matmul kernels' exposed overlap, one kernel at a time."""
        if not tokens or not any(getattr(e, "overlap_exposed", 0.0) for e in self.engines):
            return 0.0
        return sum(count * self.matmul_overlap_s(mm, k, n) for count, mm, k, n in self.matmul_shapes(tokens))

    def matmuls_in_turn_s(self, tokens: int) -> float:
        """What running the layer's matmuls one kernel after another adds to one max of their summed operand
        streams and summed main loops: each kernel lasts the longer of its own two (as bench/bench_gemm.py and
        the operator profiles price it), so a layer whose QKV streams while its FC1 computes pays both. Zero
        where every kernel is bound the same way (decode: all stream; long prefills: all compute), and on the
        LPU, whose pipeline streams one matmul's weights while it computes another's."""
        if not tokens or not self.kernel_by_kernel:
            return 0.0
        streams = mains = kernels = 0.0
        for count, mm, k, n in self.matmul_shapes(tokens):
            stream_s, main_s = self.matmul_stream_s(mm, k, n), self.matmul_s(mm, k, n)
            streams += count * stream_s
            mains += count * main_s
            kernels += count * max(stream_s, main_s)
        return kernels - max(streams, mains)

    def elementwise_s(self, tokens: int) -> float:
        """What the small kernels' activation traffic (twin.serving.cost._elementwise_bytes_per_token, at the
        sustained bandwidth) adds to their launches. Eager, the host launches each kernel while the GPU runs the
        ones before, so the traffic shows only where it outlasts the launches; a fusing stack replays a CUDA
        graph whose kernels run back to back, so each one's traffic adds to its gap. Zero on the LPU."""
        stream_s = tokens * self.elementwise_bytes / self.bw
        return stream_s if self.fused else max(0.0, stream_s - self.small_kernels_s)

    def engine_of(self, tokens: int) -> str:
        """The engine that runs the layer's largest matmul for a step of `tokens` tokens."""
        _, mm, k, n = self.matmul_shapes(max(tokens, 1))[2]
        return min(self.engines, key=lambda e: engine_seconds(e, mm, k, n)).name

    def attention_macs_s(self, pairs: float, prefill_tokens: int = 0, macs: float | None = None) -> float:
        """Score and context products over the KV history (`macs`, by default the model's per pair) on the
        first engine (SXE or SMs); on tensor cores a FlashAttention kernel, which also computes the masked
        part of each prompt's diagonal tiles."""
        masked = prefill_tokens * self._masked_keys
        if macs is None:
            macs = self.model.pair_macs * pairs
        return attention_seconds(self.engines[0], (macs + self.model.pair_macs * masked) / self.tp,
                                 self.model.heads * (pairs + masked) / self.tp)

    def codec_time(self, s: StepShape) -> float:
        """Exposed codec time of one layer: quantization, and dequantization the KV stream could not hide."""
        c = self.codec_step(s)
        return 0.0 if c is None else self.codec_share * c.exposed_s

    def codec_parts(self, s: StepShape) -> tuple[float, float]:
        """(quantization, dequantization) exposed in one layer, as the paper splits its overheads."""
        c = self.codec_step(s)
        return (0.0, 0.0) if c is None else (self.codec_share * c.quant_s, self.codec_share * c.dequant_exposed_s)

    def decode_kv_s(self, s: StepShape) -> float:
        """Time the decode attention kernel's main loop reads the decoding sequences' KV history on one chip."""
        return max(s.decode_context * self.kv_plain_bytes / self.tp / self.bw, self.decode_blocks_s(s.decode_seqs))

    def decode_blocks_s(self, seqs: int) -> float:
        """The decode attention kernel's (sequence, KV head) blocks' chains on one chip (0 on the LPU)."""
        return decode_blocks_seconds(self.engines[0], seqs * self.kv_heads_per_chip)

    def attention_s(self, s: StepShape) -> float:
        """Time one layer spends streaming KV history (and, with a codec, dequantizing it)."""
        history = (s.decode_context + s.prefill_past) / self.tp
        c = self.codec_step(s)
        return history * self.kv_plain_bytes / self.bw + (0.0 if c is None else self.codec_share * c.attention_s)

    def esl(self, tokens: int) -> tuple[float, float]:
        """Exposed all-gather time of one layer and the bytes it moves.

        Each gather overlaps with the matmul that produces it (its weights streaming
        or its MACs, whichever is slower); only the overflow and one chunk's tail show.
        """
        if self.tp == 1 or tokens == 0:
            return 0.0, 0.0
        if self.ep > 1:
            return self.expert_exchange(tokens)
        if self.server.link.kind == "nvlink":
            return self.all_reduce(tokens)
        return self._ring_gathers(tokens, self.gathers)

    def _ring_gathers(self, tokens: int, gathers: tuple[tuple[float, float, float, float, float], ...]) \
            -> tuple[float, float]:
        """Exposed time and bytes of ESL all-gathers, each overlapped with the matmul producing it."""
        payload = self.server.link.payload_bytes_per_s
        exposed = moved = 0.0
        for width, stream_s, k, n, tail in gathers:
            slice_bytes = tokens * width * FP16_BYTES / self.tp
            serial = slice_bytes * self.link_load / payload
            produce = max(stream_s, self.matmul_s(tokens, k, n))
            net_s, net_bytes = self._across_servers(tokens * width * FP16_BYTES)
            exposed += max(0.0, max(serial, net_s) - produce) + tail + self._net_latency_s()
            moved += slice_bytes * self.link_load + net_bytes
        return exposed, moved

    # ---- expert parallelism: dispatch and combine ------------------------------------
    def expert_exchange(self, tokens: int) -> tuple[float, float]:
        """A layer's collectives under expert parallelism: attention's as without it, the dispatch and combine
        all-to-alls, and the all-gather that gives every chip all tokens again (exposed: nothing overlaps it)."""
        a2a_s, a2a_bytes = self.all_to_all(tokens)
        if self.row_parallel:  # half of O's all-reduce (a reduce-scatter) and the all-gather after combine:
            # one all-reduce's ring steps and bytes, but two collective kernels, each with its own start
            reduce_s, reduce_bytes = self.all_reduce(tokens)
            return reduce_s / 2 + self.server.link.collective_launch_s + 2 * a2a_s, reduce_bytes / 2 + 2 * a2a_bytes
        attn_s, attn_bytes = self._ring_gathers(tokens, self.gathers[:2])  # attention out and O
        data = tokens * self.model.hidden * FP16_BYTES
        slice_bytes = data / self.tp * self.link_load
        net_s, net_bytes = self._across_servers(data)
        gather_s = max(slice_bytes / self.server.link.payload_bytes_per_s, net_s) + self.gather_tail_s() \
            + self._net_latency_s()
        return attn_s + gather_s + 2 * a2a_s, attn_bytes + slice_bytes + net_bytes + 2 * a2a_bytes

    def all_to_all(self, tokens: int) -> tuple[float, float]:
        """(seconds, bytes per chip) of one all-to-all, dispatch or combine: each of the ep chips sends its
        tokens / ep tokens' top-k copies of the hidden vector to the chips of their experts, ((ep - 1) / ep of
        them leave it), directly through a switch (NVLink) or around the ESL ring (the bytes of its busiest
        link), and across servers through their NICs."""
        m, n, link = self.model, self.ep, self.server.link
        routed = tokens * m.experts_top_k * m.hidden * FP16_BYTES  # the step's copies, over all chips
        pair = routed / n / n  # what one chip sends each other chip
        c = min(n, self.server.chips)
        if self.row_parallel:  # a collective kernel (NCCL's grouped sends and receives): its start, one step
            moved, wire_s = pair * (c - 1), pair * (c - 1) / link.bytes_per_s
            tail = link.collective_launch_s + link.hop_latency_s
        else:
            moved = pair * _all_to_all_load(c, c == self.server.chips and c > 2)
            wire_s, tail = moved / link.payload_bytes_per_s, self.gather_tail_s()
        net_s, net_bytes = self._across_servers(routed / self.spans)
        return max(wire_s, net_s) + tail + self._net_latency_s(), moved + net_bytes

    def _across_servers(self, output_bytes: float) -> tuple[float, float]:
        """(seconds, bytes per chip) a collective of `output_bytes` spends on the network between the servers
        its group spans: each server receives the other servers' share, (S - 1) / S of it, through its NICs,
        which its chips share; zero inside one server."""
        net = self.server.network
        if self.spans == 1 or net is None:  # a group over servers always has a network (checked at making)
            return 0.0, 0.0
        crossing = output_bytes * (self.spans - 1) / self.spans
        return crossing / net.bytes_per_s, crossing / self.server.chips

    def _net_latency_s(self) -> float:
        """A ring over S servers crosses S - 1 network hops (one way, NIC to NIC) per collective."""
        net = self.server.network
        return 0.0 if self.spans == 1 or net is None else (self.spans - 1) * net.latency_s

    def _gathers(self) -> tuple[tuple[float, float, float, float, float], ...]:
        """Per all-gather of a layer: (output width, its producer's weight-streaming time, the producer's
        K and N per chip, the tail it leaves exposed). Fixed for a cost model: worked out at its making."""
        m, tail = self.model, self.gather_tail_s()
        producers = ((m.o_dim, m.hidden * m.o_dim), (m.hidden, m.o_dim * m.hidden),  # attention out, O
                     (m.ffn * m.experts_top_k, m.hidden * m.ffn * (m.ffn_matrices - 1)),  # FC1 (gate+up)
                     (m.hidden, m.hidden * m.ffn))  # FC2
        return tuple((width, self.policy.weights.bytes_for(params) / self.tp / self.wbw, params / width,
                      width / self.tp, 0.0 if i == 2 else tail)  # FC1's tail hides under FC2, back to back
                     for i, (width, params) in enumerate(producers))

    def gather_tail_s(self) -> float:
        """What a gather exposes after its producer: the last chunk on the wire, its trip, the sync.

        The last chunk crosses `hops` routers (the farthest peer, by device id and the
        direction the router picks), each storing and forwarding a packet; then every
        device waits for the end-of-gather synchronisation before the next matmul reads
        the full vector (LPU paper, Fig. 4).
        """
        link, hz = self.server.link, self.server.chip.clock_ghz * 1e9
        packet = (link.packet_bytes + link.packet_overhead_bytes) / link.bytes_per_s if link.packet_bytes else 0.0
        chunk = link.chunk_bytes / link.payload_bytes_per_s
        return chunk + self.hops * (link.hop_latency_s + packet) + link.sync_cycles / hz

    def all_reduce(self, tokens: int) -> tuple[float, float]:
        """Two ring all-reduces per layer (after O and after FC2) over a switched link (NVLink).

        Each is one collective kernel: a fixed start, 2(n-1) ring steps of the link's latency, and
        2(n-1)/n of the activations through every GPU's link at the share of the line rate the
        library's protocol keeps (NCCL's own cost model, src/graph/tuning.cc, has this shape; the
        figures are nccl-tests measurements, links/nvlink*.yaml). The kernels run between the matmuls,
        so all of it is exposed.
        """
        n, link = min(self.tp, self.server.chips), self.server.link
        data = tokens * self.model.hidden * FP16_BYTES
        moved = 2 * (2 * (n - 1) / n) * data
        start = link.collective_launch_s + 2 * (n - 1) * link.hop_latency_s
        intra = moved / (link.bytes_per_s * link.collective_efficiency) + 2 * start
        # over servers, hierarchically: the servers all-reduce through their NICs (reduce-scatter and
        # all-gather: 2 (S - 1) / S of the data each way), then NVLink spreads the result
        net_s, net_bytes = self._across_servers(data)
        return intra + 2 * 2 * (net_s + self._net_latency_s()), moved + 2 * 2 * net_bytes

    # ---- LM head, sampler, host ------------------------------------------------------
    def head_time(self, s: StepShape) -> float:
        """The LM head and sampler; in a pipeline, on the last stage once per micro-batch."""
        if s.outputs == 0:
            return 0.0
        if self.pp > 1:  # each micro-batch's sequences sample at the end of the last stage
            k = min(self.micro_batches, s.outputs)
            share = -(-s.outputs // k)
            return k * self._head(StepShape(decode_seqs=share, outputs=share))
        return self._head(s)

    def _head(self, s: StepShape) -> float:
        if s.outputs == 0:
            return 0.0
        m, chip = self.model, self.server.chip
        mem = self.policy.weights.bytes_for(m.head_params) / self.tp / self.wbw
        compute = self.matmul_s(s.outputs, m.hidden, m.vocab / self.tp)
        per_chip = math.ceil(s.outputs / self.tp)  # sequences are sampled in parallel over chips
        sample = per_chip * m.vocab / (chip.sampler_elems_per_cycle * chip.clock_ghz * 1e9)
        overlap = self.matmul_overlap_s(s.outputs, m.hidden, m.vocab / self.tp)
        return max(mem, compute) + overlap + self.matmul_tail_s + sample

    def step_time(self, s: StepShape) -> float:
        if s.tokens == 0:
            return 0.0
        return self.model.layers * self.layer(s).time_s + self.head_time(s) + self.server.host.step_overhead_s


    # ---- what layer fidelity walks (twin.hw.pipeline, twin.trace_events) ---------------
    def micro_shapes(self, s: StepShape) -> list[StepShape]:
        """The micro-batches of a pipeline step as layer fidelity runs them: as many as `micro` makes, with the
        sequences, prompt tokens and outputs shared out as evenly as whole ones go (step fidelity prices
        every micro-batch as the largest), each attending its sequences' context; empty ones dropped."""
        m, _ = self.micro(s)
        if m == 1:
            return [s]
        out = []
        for j in range(m):
            seqs, prompt = _share(s.decode_seqs, m, j), _share(s.prefill_tokens, m, j)
            ctx = s.decode_context * seqs / s.decode_seqs if s.decode_seqs else 0.0
            pairs = s.prefill_pairs * prompt / s.prefill_tokens if s.prefill_tokens else 0.0
            if seqs + prompt:
                out.append(StepShape(seqs, ctx, prompt, pairs, _share(s.prefill_past, m, j),
                                     _share(s.outputs, m, j)))
        return out

    def micro_head_s(self, s: StepShape) -> float:
        """The LM head and sampler of one micro-batch, on the last stage."""
        return self._head(s)

    def activation_bytes(self, s: StepShape) -> float:
        """What a pipeline stage hands the next for a (micro-)batch: each token's hidden vector in FP16."""
        return s.tokens * self.model.hidden * FP16_BYTES

    def collective_parts(self, tokens: int, exposed_s: float, moved: float) -> list[tuple[str, float, float]]:
        """A layer's exposed collectives on one chip's link (`exposed_s`, `moved` from its LayerCost), named for
        the trace: (name, seconds, bytes); under expert parallelism the dispatch and combine all-to-alls apart."""
        gathers = "all-reduce" if self.row_parallel else "all-gather tails"
        if self.ep == 1 or tokens == 0:
            return [(gathers, exposed_s, moved)]
        a2a_s, a2a_bytes = self.all_to_all(tokens)
        return [(gathers, exposed_s - 2 * a2a_s, moved - 2 * a2a_bytes), ("dispatch all-to-all", a2a_s, a2a_bytes),
                ("combine all-to-all", a2a_s, a2a_bytes)]

    def network_bytes(self, tokens: int) -> float:
        """Bytes each server of a tensor-parallel group spanning servers receives through its NICs in one layer:
        (S - 1) / S of every collective's output (as `_across_servers` prices them); zero inside one server."""
        if self.spans == 1 or tokens == 0:
            return 0.0
        data, routed = tokens * self.model.hidden * FP16_BYTES, tokens * self.model.experts_top_k * \
            self.model.hidden * FP16_BYTES
        if self.ep > 1:
            outputs = [data] * 2 if self.row_parallel else [tokens * w * FP16_BYTES for w, *_ in self.gathers[:2]]
            outputs += ([] if self.row_parallel else [data]) + [routed / self.spans] * 2
        else:
            outputs = [data] * 4 if self.row_parallel else [tokens * w * FP16_BYTES for w, *_ in self.gathers]
        return sum(outputs) * (self.spans - 1) / self.spans


def check_ep(model: ModelSpec, tp: int, ep: int) -> int:
    """`ep`, if the model's experts can spread over it: the chips of a tensor-parallel group, whole experts
    on each (attention stays tensor-parallel over the same chips). Refused in one line otherwise."""
    if ep == 1:
        return ep
    if model.experts == 1:
        raise InvalidSpec("ep", f"{model.name} has no experts to spread (expert parallelism is for MoE models)")
    if ep != tp:
        raise InvalidSpec("ep", f"ep={ep} with tp={tp}: the experts spread over the chips of the tensor-parallel "
                                f"group, so ep is 1 or tp (--tp {ep} --ep {ep})")
    if model.experts % ep:
        raise InvalidSpec("ep", f"ep={ep} does not divide {model.name}'s {model.experts} experts (whole experts "
                                "on each chip)")
    if not model.uniform:
        raise InvalidSpec("ep", f"{model.name} has dense layers or shared experts beside its routed ones: expert "
                                "parallelism is modelled for models whose every layer routes alike")
    return ep


def _share(total: int, parts: int, j: int) -> int:
    """Part j of `total` whole things shared out over `parts` as evenly as they go (the first ones one more)."""
    return total // parts + (j < total % parts)


def _all_to_all_load(chips: int, closed: bool) -> float:
    """Chip-to-chip messages over the busiest link of an all-to-all by shortest paths: on a closed ring every
    link carries half the sum of one chip's distances to the others; on a line the middle link carries every
    pair across it."""
    if closed:
        return sum(min(d, chips - d) for d in range(1, chips)) / 2
    return float((chips // 2) * (chips - chips // 2))


def kv_replication(model: ModelSpec, tp: int) -> float:
    """Copies of each KV head a tensor-parallel group keeps: 1 while the heads divide over the chips, tp /
    kv_heads when there are fewer heads than chips. A split that neither divides is refused: heads are not cut."""
    if model.heads % tp:
        fits = [t for t in range(1, min(model.heads, 64) + 1)
                if model.heads % t == 0 and (model.kv_heads % t == 0 or t % model.kv_heads == 0)]
        raise InvalidSpec("tp", f"tp={tp} does not divide {model.name}'s {model.heads} attention heads (a head is not "
                                f"split across chips); tp in {fits} does")
    if model.mla:  # the latent is shared by every head: each chip keeps all of it (vLLM's MLA under TP)
        return float(tp)
    if model.kv_heads % tp == 0:
        return 1.0
    if tp % model.kv_heads:
        raise InvalidSpec("tp", f"tp={tp} neither divides {model.name}'s {model.kv_heads} KV heads nor is a multiple "
                                "of them, so they can be neither split nor replicated evenly")
    return tp / model.kv_heads


def _elementwise_bytes_per_token(m: ModelSpec, tp: int, fused: bool) -> float:
    """Bytes one token's activations move through a GPU's memory per layer and chip in the small kernels
    between the matmuls, each reading its inputs and writing its output (a profiled elementwise kernel is
    priced the same way, launch and bytes: twin.measure.operators). Eager (op by op): two norms (x in, y out) and
    two residual adds (two in, one out) over the whole hidden width, which every chip of the group holds; the
    activation over the chip's FFN share, a gated one as two kernels (SiLU, then the multiply: 2 + 3 passes).
    A fusing stack (twin.serving.stack) fuses each residual add with the next norm (x and the residual in, both
    out) and the gated activation with its multiply (gate and up in, one out). Rotary embeddings rotate Q and
    K in place. The attention's softmax is inside its kernel (FlashAttention) and moves nothing here. Layers that
    differ (DeepSeek's dense first layers) give their mean; extra norms (Gemma's, Qwen3's) are not counted."""
    # what one token's MLP widens to in the mean layer: routed and shared experts, or a first dense layer's MLP
    ffn = m.moe_share * (m.ffn * m.experts_top_k + m.shared_experts * m.ffn) + (1.0 - m.moe_share) * m.dense_ffn
    gated = m.ffn_matrices == 3
    if fused:
        widths = 2 * 4 * m.hidden + (3 if gated else 2) * ffn / tp
    else:
        widths = 2 * 2 * m.hidden + 2 * 3 * m.hidden + (5 if gated else 2) * ffn / tp
    if not m.learned_positions:  # the chip's query heads; its KV heads (whole ones, or MLA's one shared rope key)
        if m.mla:
            widths += 2 * (m.heads * m.qk_rope_head_dim / tp + m.qk_rope_head_dim)
        else:
            widths += 2 * (m.heads / tp + max(m.kv_heads / tp, 1.0)) * m.head_dim
    return FP16_BYTES * widths


def _latent_attention_macs(m: ModelSpec, s: StepShape) -> float:
    """Attention MACs of a latent-attention layer (DeepSeek-V2, arXiv:2405.04434, section 2.1): decoding
    scores the latent itself, W_UK and W_UV absorbed; a prefill attends as multi-head attention over keys and
    values up-projected from the latent, which for earlier chunks' tokens costs their W_UK and W_UV again
    (a new token's up-projection is among the layer's weights)."""
    heads_width = m.heads * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim)  # score and context
    up = m.kv_lora_rank * m.heads * (m.qk_nope_head_dim + m.v_head_dim)
    return m.pair_macs * s.decode_context + heads_width * s.prefill_pairs + up * s.prefill_past


def _mean_layer_shapes(m: ModelSpec, shapes: list[tuple[float, float, float, float]], tokens: int, tp: int,
                       row_parallel: bool) -> list[tuple[float, float, float, float]]:
    """The matmuls of the mean layer of a model whose layers differ (DeepSeek): the routed experts of its MoE
    layers, their shared experts (every token), and the dense MLP of its first layers, each weighted by its
    share of the layers."""
    share, gated = m.moe_share, m.ffn_matrices - 1
    out = [*shapes[:2], *((c * share, mm, k, n) for c, mm, k, n in shapes[2:])]
    for count, width in ((m.shared_experts * share, m.ffn), (1.0 - share, m.dense_ffn)):
        if count > 0:
            fc2 = (width / tp, m.hidden) if row_parallel else (width, m.hidden / tp)
            out += [(count, tokens, m.hidden, width * gated / tp), (count, tokens, *fc2)]
    return out


def _stage_links(server: ServerSpec, tp: int, pp: int) -> tuple[tuple[float, float], ...]:
    """(latency s, bytes/s) of each boundary between consecutive stages of `pp` stages of `tp` chips: the
    server's chip-to-chip link (ESL, NVLink) inside a server, its network between servers."""
    per = server.chips
    links = []
    for i in range(1, pp):
        if (i * tp) % per == 0:  # the next stage starts a new server
            net = server.network
            if net is None:
                raise InvalidSpec("pp", f"stages on different {server.name} servers need the server's network: "
                                        "add network: to its YAML, or use fewer stages")
            links.append((net.latency_s, net.bytes_per_s))
        else:
            links.append((server.link.hop_latency_s, server.link.bytes_per_s))
    return tuple(links)


def _power_limit(chip, link_pj_per_byte: float) -> tuple[float, float, float, float] | None:
    """(J per MAC, per memory byte, per link byte, watts left for them under the limit) of a chip that
    states a power limit (tdp_w) and energy figures; None otherwise. The budget is the limit less the
    static draw of the chip and its memory, which it pays whatever it does."""
    spec = chip.energy
    if chip.tdp_w is None or spec is None:
        return None
    budget = chip.tdp_w - spec.static_w - chip.memory.stacks * spec.memory_static_w_per_stack
    if budget <= 0:
        return None
    return spec.pj_per_mac * PJ, spec.pj_per_mem_byte * PJ, link_pj_per_byte * PJ, budget


def _codec(spec, model: ModelSpec, tp: int, chip, bw: float, policy: QuantPolicy, handled) -> KvCodec:
    """The codec for the KV formats it handles, with their per-head dense and sparse bytes."""
    if model.mla:  # the codec's pipelines work per K and V head; a shared latent is not modelled on them
        raise InvalidSpec("kv_quant", f"{model.name}'s KV is one latent shared by every head (MLA), which the "
                                      f"{chip.name}'s KV codec is not modelled for: use a KV scheme other than "
                                      f"{', '.join(spec.schemes)}")
    n, share = model.kv_dim, policy.kv_mean(lambda s: 1.0 if handled(s) else 0.0)
    dense = policy.kv_mean(lambda s: s.dense_bytes_per_vector(n) if handled(s) else 0.0) / share
    sparse = policy.kv_mean(lambda s: s.sparse_bytes_per_vector(n) if handled(s) else 0.0) / share
    heads = max(model.kv_heads / tp, 1.0)  # more chips than KV heads: a whole (replicated) head per chip
    return KvCodec(spec, heads, model.head_dim, dense / model.kv_heads, sparse / model.kv_heads,
                   chip.clock_ghz * 1e9, bw, chip.memory.channels)


def _gather_geometry(tp: int, chips_per_server: int) -> tuple[float, int]:
    """(slices crossing the busiest link per gather, hops of the farthest slice).

    A closed ring (the replica spans the server) sends both ways, so each direction
    carries about half of the other slices over at most floor(tp/2) hops. A line must
    carry up to half the slices across its middle link and its ends are tp-1 hops apart.
    """
    if tp == 1:
        return 0.0, 0
    if tp == chips_per_server and tp > 2:
        return (tp - 1) / 2, tp // 2
    return float(tp // 2), tp - 1
