"""Specifications as frozen dataclasses, built once at the edge and validated on construction.

Units are in the field names. `__post_init__` only checks rules; it never does I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from twin.errors import InvalidSpec
from twin.units import GB, GBIT, GIB

CAPACITY_UNITS = {"GiB": GIB, "GB": GB}


def build_spec(cls, data, where: str):
    """`cls(**data)` for a frozen spec dataclass; every failure an InvalidSpec naming `where` and the field."""
    from dataclasses import fields
    known = {f.name: f.type for f in fields(cls)}
    extra = sorted(set(data) - set(known))
    if extra:
        raise InvalidSpec(f"{where}.{extra[0]}", f"unknown field (known: {', '.join(sorted(known))})")
    for name, value in data.items():
        _check_type(value, known[name], f"{where}.{name}")
    try:
        return cls(**data)
    except TypeError as exc:  # a missing required field
        raise InvalidSpec(where, str(exc).split("() ", 1)[-1]) from None
    except InvalidSpec as exc:
        raise InvalidSpec(f"{where}.{exc.field}", exc.message) from None


MAX_WHOLE = 2 ** 53  # the largest whole number a spec field holds (exact as a float too)


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_WHOLE


def _is_number(value: object) -> bool:
    return (_is_whole(value) or isinstance(value, float)) and math.isfinite(value)


_SCALARS = {"int": (_is_whole, "a whole number (at most 2**53)"), "float": (_is_number, "a finite number"),
            "str": (lambda v: isinstance(v, str), "text"), "bool": (lambda v: isinstance(v, bool), "true or false")}


def _check_type(value: object, annotation: object, where: str) -> None:
    """A YAML value against a scalar field's annotation ('int', 'float | None', ...): `layers: true`,
    `layers: 32.5`, `family: [1]` or `.nan` are refused here. Other annotations are checked by their class."""
    kind, _, none = str(annotation).partition(" | ")
    if kind not in _SCALARS or (value is None and none == "None"):
        return
    accepts, wanted = _SCALARS[kind]
    if not accepts(value):
        raise InvalidSpec(where, f"must be {wanted}{' or null' if none == 'None' else ''}, got {_shown(value)}")


def _shown(value: object) -> str:
    """A bounded repr: a long list is cut, and a huge number (whose repr Python refuses) is described."""
    try:
        text = repr(value)
    except ValueError:
        return "a number of more than 4,300 digits"
    return text if len(text) <= 40 else text[:40] + "..."


def _positive(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
            raise InvalidSpec(name, f"must be a positive number, got {value!r}")


@dataclass(frozen=True)
class MemorySpec:
    """Device memory (HBM stacks or LPDDR packages): stacks x channels, striped."""

    kind: str
    stacks: int
    channels_per_stack: int
    capacity_per_stack_gb: float  # in `capacity_unit`, as the vendor writes it
    bandwidth_per_stack_gbps: float  # GB/s, peak
    sustained_efficiency: float  # share of peak a long sequential stream sustains (calibrated)
    capacity_unit: str = "GiB"  # what the vendor's "GB" means: DRAM dies come in binary densities

    def __post_init__(self) -> None:
        _positive(self, "stacks", "channels_per_stack", "capacity_per_stack_gb", "bandwidth_per_stack_gbps")
        if not 0 < self.sustained_efficiency <= 1:
            raise InvalidSpec("sustained_efficiency", f"must be in (0, 1], got {self.sustained_efficiency}")
        if self.capacity_unit not in CAPACITY_UNITS:
            raise InvalidSpec("capacity_unit", f"must be one of {', '.join(CAPACITY_UNITS)}, got {self.capacity_unit!r}")

    @property
    def label(self) -> str:
        """HBM or LPDDR, as a user reads it next to a bandwidth figure."""
        return "LPDDR" if self.kind.startswith("lpddr") else "HBM" if self.kind.startswith("hbm") else self.kind.upper()

    @property
    def channels(self) -> int:
        return self.stacks * self.channels_per_stack

    @property
    def capacity_bytes(self) -> float:
        return self.stacks * self.capacity_per_stack_gb * CAPACITY_UNITS[self.capacity_unit]

    @property
    def peak_bytes_per_s(self) -> float:
        return self.stacks * self.bandwidth_per_stack_gbps * GB

    @property
    def sustained_bytes_per_s(self) -> float:
        return self.peak_bytes_per_s * self.sustained_efficiency


@dataclass(frozen=True)
class KvCodecSpec:
    """Oaken's KV quantization and dequantization engines and its MMU, in the DMA path (Oaken §5).

    One quant and one dequant engine per core (`engines`). The MMU keeps each head's K/V
    history in dense and sparse pages of `page_bytes`, read in bursts of `burst_bytes`.
    The engines stream; what shows in a step is what they cannot hide (twin.serving.codec).
    """

    engines: int  # cores, each with its own quant and dequant engine
    quant_elems_per_cycle: float  # exposed quantization throughput of the chip (calibrated)
    dequant_elems_per_cycle: float  # one dequant engine's throughput (calibrated)
    page_open_ns: float  # row precharge + activate on the channel holding a page the MMU opens
    dequant_fill_cycles: float  # pipeline fill per request, K/V phase and layer
    page_bytes: int  # MMU page
    burst_bytes: int  # memory access granule
    quant_area_share: float = 0.0  # of a core (Table 4), reported
    dequant_area_share: float = 0.0
    schemes: tuple[str, ...] = ("oaken",)  # KV formats the engines implement; others go through the VXE
    # How decode's dequantization is shared over the cores: "request", one request's history on its core's engine
    # (Oaken §5.3); "head", the MMU's per-head pages handed to every core's engine (twin.serving.codec)
    decode_spread: str = "request"

    def __post_init__(self) -> None:
        _positive(self, "engines", "quant_elems_per_cycle", "dequant_elems_per_cycle", "page_bytes", "burst_bytes")
        if self.decode_spread not in ("request", "head"):
            raise InvalidSpec("decode_spread", f"must be request or head, got {self.decode_spread!r}")
        if self.page_open_ns < 0 or self.dequant_fill_cycles < 0:
            raise InvalidSpec("page_open_ns", "codec latencies must be >= 0")


@dataclass(frozen=True)
class ChipSpec:
    """One accelerator: SXE MAC trees x lanes (and any other compute engines), VXE, LMU SRAM,
    SMA over its memory, ESL and PCIe ports; its energy figures and die area.

    A GPU has no MAC trees (``mac_trees: 0``): its tensor cores are an engine in ``engines``,
    and ``kernel_launch_s`` is what each launch-bound kernel of a layer costs it.
    """

    name: str
    kind: str  # asic | fpga | npu | gpu
    clock_ghz: float
    mac_trees: int  # l (0: no SXE)
    lanes: int  # v
    vxe_lanes: int  # elements per cycle through the vector engine
    sampler_elems_per_cycle: float  # logits the VXE sampler sorts per cycle
    sram_kb: float
    memory: MemorySpec
    esl_ports: int = 2
    power_w: float = 0.0  # published power figure, for reference (energy comes from `energy`)
    kv_codec: KvCodecSpec | None = None  # Oaken's quant/dequant engines; None: the VXE does it
    psum_tokens: int = 64  # SXE: tokens whose partial sums a MAC tree holds per pass (twin.hw.engines)
    pipeline_depth_cycles: int = 16  # SXE: pipeline drained per pass of a multi-token matmul
    engines: tuple = ()  # further compute engines (systolic arrays, tensor cores): twin.hw.engines
    energy: object = None  # twin.energy.EnergySpec; None: no energy figures for this chip
    die_area_mm2: float | None = None  # published die area; None: from the LPU per-unit model (twin.area)
    kernel_launch_s: float = 0.0  # GPUs: time each launch-bound kernel of a layer costs (calibrated)
    fused_kernels: int = 0  # GPUs: launch-bound kernels per layer of a fusing engine (twin.serving.stack); 0: eager
    # GPUs: weights stream at this times the memory's sustained share (capped at the peak): the serving stack's
    # GEMV kernels (twin.serving.stack); KV and activations keep the memory's own share
    weight_stream_factor: float = 1.0
    # The board's power limit (W), enforced: a chip at its limit lowers its clock, so a step takes at least
    # its dynamic energy over the power left above the static draw (twin.serving.cost). None: no limit stated.
    tdp_w: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _positive(self, "clock_ghz", "lanes", "vxe_lanes", "sampler_elems_per_cycle", "sram_kb",
                  "psum_tokens", "pipeline_depth_cycles")
        if self.esl_ports < 0:
            raise InvalidSpec("esl_ports", "must be >= 0")
        if not isinstance(self.mac_trees, int) or self.mac_trees < 0:
            raise InvalidSpec("mac_trees", f"must be a whole number >= 0, got {self.mac_trees!r}")
        if self.mac_trees == 0 and not self.engines:
            raise InvalidSpec("engines", "a chip without MAC trees needs at least one compute engine")
        if self.kind == "gpu" and self.mac_trees:
            raise InvalidSpec("mac_trees", "a GPU has no MAC trees (its tensor cores are an engine)")
        if self.tdp_w is not None and not self.tdp_w > 0:
            raise InvalidSpec("tdp_w", f"must be a number of watts > 0, got {self.tdp_w!r}")
        if not self.weight_stream_factor > 0:
            raise InvalidSpec("weight_stream_factor", f"must be > 0, got {self.weight_stream_factor!r}")
        if not isinstance(self.fused_kernels, int) or self.fused_kernels < 0:
            raise InvalidSpec("fused_kernels", f"must be a whole number >= 0, got {self.fused_kernels!r}")
        if self.kernel_launch_s < 0 or (self.die_area_mm2 is not None and not self.die_area_mm2 > 0):
            raise InvalidSpec("kernel_launch_s" if self.kernel_launch_s < 0 else "die_area_mm2", "must be >= 0")

    @property
    def weight_bytes_per_s(self) -> float:
        """How fast weights stream: the memory's sustained share times the stack's factor, at most the peak."""
        m = self.memory
        return m.peak_bytes_per_s * min(1.0, m.sustained_efficiency * self.weight_stream_factor)

    @property
    def compute_engines(self) -> tuple:
        """Every compute engine: the SXE MAC trees (if any) first, then the others."""
        from twin.hw.engines import MacTreeArray
        sxe = (MacTreeArray("sxe", self.mac_trees, self.lanes, self.clock_ghz, self.psum_tokens,
                            self.pipeline_depth_cycles),) if self.mac_trees else ()
        return sxe + tuple(self.engines)

    @property
    def macs_per_s(self) -> float:
        """Peak MACs per second of all engines together."""
        return sum(e.macs_per_cycle * e.clock_ghz * 1e9 for e in self.compute_engines)

    @property
    def peak_tflops(self) -> float:
        return 2 * self.macs_per_s / 1e12


@dataclass(frozen=True)
class LinkSpec:
    """Chip-to-chip ESL: full-duplex ports, per-direction bandwidth, per-hop latency."""

    name: str
    bandwidth_gbit_s: float  # per direction per port
    hop_latency_s: float
    chunk_bytes: int  # column chunk forwarded while the next one computes
    kind: str = "esl"  # esl: ring of P2P ports, overlapped gathers | nvlink: switched, all-reduce kernels
    packet_bytes: int = 0  # ESL payload per packet (0: no packetisation modelled)
    packet_overhead_bytes: int = 0  # framing, header and gap sent with every packet
    sync_cycles: float = 0.0  # end-of-gather synchronisation, in cycles of the chip's clock
    pj_per_byte: float = 0.0  # energy per byte sent over the link (SerDes and its share of the switch)
    # Switched links (NVLink): a collective library's kernel pays a fixed start (launch, flags, proxy) and
    # moves data at a share of the line rate (protocol flags and headers); twin.serving.cost.all_reduce
    collective_launch_s: float = 0.0
    collective_efficiency: float = 1.0
    description: str = ""

    def __post_init__(self) -> None:
        _positive(self, "bandwidth_gbit_s", "hop_latency_s", "chunk_bytes", "collective_efficiency")
        if self.collective_efficiency > 1 or self.collective_launch_s < 0:
            raise InvalidSpec("collective_efficiency", "must be a share in (0, 1] (and collective_launch_s >= 0)")
        if self.kind not in ("esl", "nvlink"):
            raise InvalidSpec("kind", f"must be esl or nvlink, got {self.kind!r}")
        if min(self.packet_bytes, self.packet_overhead_bytes, self.sync_cycles) < 0:
            raise InvalidSpec("packet_bytes", "packet sizes and sync cycles must be >= 0")
        if not (isinstance(self.pj_per_byte, (int, float)) and self.pj_per_byte >= 0):
            raise InvalidSpec("pj_per_byte", "must be a number >= 0")

    @property
    def bytes_per_s(self) -> float:
        return self.bandwidth_gbit_s * GBIT

    @property
    def payload_bytes_per_s(self) -> float:
        """Payload rate: the line rate less each packet's framing and header."""
        if not self.packet_bytes:
            return self.bytes_per_s
        return self.bytes_per_s * self.packet_bytes / (self.packet_bytes + self.packet_overhead_bytes)


@dataclass(frozen=True)
class HostSpec:
    """The server's host CPU, its memory, and the PCIe link to each chip."""

    cpu: str
    cores: int
    memory_gb: float
    pcie_gbps: float  # GB/s per direction per chip
    pcie_latency_s: float
    step_overhead_s: float  # CPU scheduling cost per batch step
    tokenize_s_per_token: float  # CPU cost to tokenise a prompt, per token
    power_w: float = 0.0  # the host's draw while serving (CPUs, DRAM, NICs, fans), constant

    def __post_init__(self) -> None:
        _positive(self, "cores", "memory_gb", "pcie_gbps", "pcie_latency_s")
        if self.step_overhead_s < 0 or self.tokenize_s_per_token < 0:
            raise InvalidSpec("step_overhead_s", "host overheads must be >= 0")
        if not (isinstance(self.power_w, (int, float)) and self.power_w >= 0):
            raise InvalidSpec("power_w", "must be a number >= 0")

    @property
    def pcie_bytes_per_s(self) -> float:
        return self.pcie_gbps * GB


@dataclass(frozen=True)
class NetworkSpec:
    """The host network between servers: NICs per server, each with its bandwidth, and a one-way latency."""

    nics: int
    nic_gbit_s: float  # per NIC, per direction
    latency_s: float  # one way, NIC to NIC through one switch (RDMA)
    kind: str = "ethernet"

    def __post_init__(self) -> None:
        _positive(self, "nics", "nic_gbit_s", "latency_s")

    @property
    def bytes_per_s(self) -> float:
        return self.nics * self.nic_gbit_s * GBIT


@dataclass(frozen=True)
class ServerSpec:
    """A server: chips of one kind on ESL, a host, and the NICs that reach other servers."""

    name: str
    chip: ChipSpec
    chips: int
    link: LinkSpec
    host: HostSpec
    description: str = ""
    network: NetworkSpec | None = None

    def __post_init__(self) -> None:
        _positive(self, "chips")


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer's architecture, as published.

    Three kinds of KV cache: grouped-query attention (K and V of `kv_heads` heads per token and layer), the
    same with local layers (`sliding_window`: a local layer attends, and keeps, at most that many tokens;
    `sliding_window_pattern` N: every N-th layer is global, None: every layer is local), and DeepSeek's
    multi-head latent attention (`kv_lora_rank` > 0: one latent of kv_lora_rank + qk_rope_head_dim elements
    per token and layer, shared by every head; DeepSeek-V2, arXiv:2405.04434, section 2.1).
    """

    name: str
    family: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    max_context: int
    ffn_matrices: int = 2  # 2 for GELU/ReLU MLPs (OPT), 3 for SwiGLU (Llama, Mistral)
    experts: int = 1
    experts_top_k: int = 1
    sliding_window: int | None = None
    tied_embeddings: bool = False
    learned_positions: bool = False
    published_params_b: float = 0.0
    description: str = ""
    head_size: int | None = None  # per-head width when it is not hidden / heads (config.json's head_dim: Qwen3, Gemma)
    sliding_window_pattern: int | None = None  # every N-th layer global, the others local (Gemma 2: 2, 3: 6)
    shared_experts: int = 0  # experts every token passes through besides its routed ones (DeepSeek)
    dense_layers: int = 0  # the first layers keep a dense MLP of dense_ffn (DeepSeek's first_k_dense_replace)
    dense_ffn: int = 0
    kv_lora_rank: int = 0  # multi-head latent attention (0: none); its query, rope and value widths:
    q_lora_rank: int = 0  # 0: the query is projected from the hidden state directly
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0

    def __post_init__(self) -> None:
        _positive(self, "layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "max_context", "experts")
        if self.head_size is None and self.hidden % self.heads:
            raise InvalidSpec("heads", f"hidden {self.hidden} must be divisible by heads {self.heads} "
                                       "(or give head_size)")
        if self.heads % self.kv_heads:
            raise InvalidSpec("kv_heads", f"heads {self.heads} must be a multiple of kv_heads {self.kv_heads}")
        if not 1 <= self.experts_top_k <= self.experts:
            raise InvalidSpec("experts_top_k", f"must be in [1, experts={self.experts}]")
        if self.ffn_matrices not in (2, 3):
            raise InvalidSpec("ffn_matrices", "must be 2 (GELU/ReLU MLP) or 3 (gated MLP)")
        for name in ("sliding_window", "head_size", "sliding_window_pattern"):
            if getattr(self, name) is not None:
                _positive(self, name)
        if not (isinstance(self.published_params_b, (int, float)) and 0 <= self.published_params_b < math.inf):
            raise InvalidSpec("published_params_b", f"must be a finite number >= 0, got {self.published_params_b!r}")
        self._check_layers()

    def _check_layers(self) -> None:
        """The kinds of layer: local/global attention, latent attention, dense layers before MoE ones."""
        if self.sliding_window_pattern is not None and self.sliding_window is None:
            raise InvalidSpec("sliding_window_pattern", "needs sliding_window (the local layers' window)")
        if self.sliding_window_pattern is not None and self.sliding_window_pattern > self.layers:
            raise InvalidSpec("sliding_window_pattern", f"every N-th layer is global: N must be at most the "
                                                        f"{self.layers} layers")
        for name in ("shared_experts", "dense_layers", "dense_ffn", "kv_lora_rank", "q_lora_rank",
                     "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
            if getattr(self, name) < 0:
                raise InvalidSpec(name, f"must be >= 0, got {getattr(self, name)}")
        if (self.shared_experts or self.dense_layers) and self.experts == 1:
            raise InvalidSpec("experts", "shared_experts and dense_layers describe a mixture of experts")
        if not 0 <= self.dense_layers < self.layers:
            raise InvalidSpec("dense_layers", f"must be in [0, layers={self.layers})")
        if self.dense_layers and not self.dense_ffn:
            raise InvalidSpec("dense_ffn", "the dense layers' MLP width is needed with dense_layers")
        if self.kv_lora_rank and not (self.qk_rope_head_dim and self.qk_nope_head_dim and self.v_head_dim):
            raise InvalidSpec("kv_lora_rank", "latent attention needs qk_nope_head_dim, qk_rope_head_dim and "
                                              "v_head_dim")

    # ---- attention ---------------------------------------------------------------------
    @property
    def mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def head_dim(self) -> int:
        """The per-head width in force: head_size when given, else hidden / heads."""
        return self.head_size if self.head_size is not None else self.hidden // self.heads

    @property
    def q_dim(self) -> int:
        """Width of all heads' queries (the hidden width unless head_size says otherwise)."""
        if self.mla:
            return self.heads * (self.qk_nope_head_dim + self.qk_rope_head_dim)
        return self.heads * self.head_dim

    @property
    def o_dim(self) -> int:
        """Width of all heads' attention outputs, the output projection's input."""
        return self.heads * self.v_head_dim if self.mla else self.q_dim

    @property
    def kv_dim(self) -> int:
        """Elements of one cached vector per token and layer: K (or V) of the KV heads; MLA's latent."""
        if self.mla:
            return self.kv_lora_rank + self.qk_rope_head_dim
        return self.kv_heads * self.head_dim

    @property
    def kv_vectors(self) -> int:
        """Vectors cached per token and layer: K and V, or MLA's one latent (its rope key included)."""
        return 1 if self.mla else 2

    @property
    def attn_params(self) -> int:
        if self.mla:  # W_DQ, W_UQ (or W_Q), W_DKV with the rope key W_KR, W_UK and W_UV, W_O
            q = self.hidden * self.q_lora_rank + self.q_lora_rank * self.q_dim if self.q_lora_rank \
                else self.hidden * self.q_dim
            up = self.kv_lora_rank * self.heads * (self.qk_nope_head_dim + self.v_head_dim)
            return q + self.hidden * self.kv_dim + up + self.o_dim * self.hidden
        return 2 * self.hidden * self.q_dim + 2 * self.hidden * self.kv_dim

    @property
    def pair_macs(self) -> int:
        """MACs per query-key pair of a decoding token over all heads (score and context). MLA decodes with W_UK
        absorbed into the query and W_UV into the output (DeepSeek-V2, section 2.1.2): each head scores and sums
        the latent itself (kv_lora_rank) and its rope key, as decoding kernels do (FlashMLA); its prefill is
        counted apart (twin.serving.cost)."""
        if self.mla:
            return self.heads * (2 * self.kv_lora_rank + self.qk_rope_head_dim)
        return 2 * self.q_dim

    # ---- local and global layers -------------------------------------------------------
    @property
    def global_layers(self) -> int:
        """Layers attending over the whole context."""
        if self.sliding_window is None:
            return self.layers
        return 0 if self.sliding_window_pattern is None else self.layers // self.sliding_window_pattern

    @property
    def global_share(self) -> float:
        """Share of layers that are global in a model mixing local and global ones (0.0 otherwise)."""
        if self.sliding_window_pattern is None:
            return 0.0
        return self.global_layers / self.layers

    def attended_context(self, context: float) -> float:
        """Tokens a decoding token attends, on average over the layers, at `context` tokens of context."""
        if self.sliding_window is None or context <= self.sliding_window:
            return context
        share = self.global_layers / self.layers
        return share * context + (1 - share) * self.sliding_window

    def kv_elems(self, context: int) -> int:
        """Elements of KV a sequence of `context` tokens needs over all layers, local layers holding at most
        their window."""
        local = self.layers - self.global_layers
        window = context if self.sliding_window is None else min(context, self.sliding_window)
        return self.kv_vectors * self.kv_dim * (self.global_layers * context + local * window)

    # ---- weights -----------------------------------------------------------------------
    @property
    def expert_params(self) -> int:
        return self.ffn_matrices * self.hidden * self.ffn

    @property
    def uniform(self) -> bool:
        """Every layer alike (no shared experts, no dense layers before the MoE ones)."""
        return not (self.shared_experts or self.dense_layers)

    @property
    def layer_params(self) -> int:
        """One (MoE, if any) layer's weights."""
        router = self.hidden * self.experts if self.experts > 1 else 0
        return self.attn_params + (self.experts + self.shared_experts) * self.expert_params + router

    @property
    def all_layer_params(self) -> int:
        dense = self.attn_params + self.ffn_matrices * self.hidden * self.dense_ffn
        return self.dense_layers * dense + (self.layers - self.dense_layers) * self.layer_params

    @property
    def moe_share(self) -> float:
        return (self.layers - self.dense_layers) / self.layers

    def streamed_layer_params(self, active: float) -> float:
        """Weights a step streams in one layer when `active` routed experts are hit (a mean over the layers when
        they differ: dense layers and shared experts)."""
        router = self.hidden * self.experts if self.experts > 1 else 0
        if self.uniform:
            return self.attn_params + active * self.expert_params + router
        return self.attn_params + self._mean_ffn(active * self.expert_params + router)

    @property
    def active_layer_params(self) -> float:
        """Weights one token multiplies in one layer (a mean over the layers when they differ)."""
        if self.uniform:
            return self.attn_params + self.experts_top_k * self.expert_params
        return self.attn_params + self._mean_ffn(self.experts_top_k * self.expert_params)

    def _mean_ffn(self, routed: float) -> float:
        dense = self.ffn_matrices * self.hidden * self.dense_ffn
        moe = routed + self.shared_experts * self.expert_params
        return (self.dense_layers * dense + (self.layers - self.dense_layers) * moe) / self.layers

    @property
    def embedding_params(self) -> int:
        positions = self.max_context * self.hidden if self.learned_positions else 0
        return self.vocab * self.hidden + positions

    @property
    def head_params(self) -> int:
        """LM head weights, streamed every step whether or not tied to the embedding."""
        return self.vocab * self.hidden

    @property
    def params(self) -> int:
        untied = 0 if self.tied_embeddings else self.head_params
        return self.all_layer_params + self.embedding_params + untied


@dataclass(frozen=True)
class ClusterSpec:
    """Servers of one kind, cut into replicas of `pp` pipeline stages of `tp` chips each (tensor parallel
    over ESL or NVLink inside a stage). A replica of more chips than a server spans whole servers."""

    server: ServerSpec
    servers: int = 1
    tp: int = 1
    replicas: int | None = None  # default: as many as the chips allow
    pp: int = 1  # pipeline stages per replica
    ep: int = 1  # expert parallelism: the chips of a stage's tp group each hold experts / ep whole experts

    def __post_init__(self) -> None:
        _positive(self, "servers", "tp", "pp", "ep")
        if self.ep not in (1, self.tp):
            raise InvalidSpec("ep", f"ep={self.ep} with tp={self.tp}: the experts spread over the chips of the "
                                    f"tensor-parallel group, so ep is 1 or tp (--tp {self.ep} --ep {self.ep})")
        per = self.server.chips
        if self.tp > per and self.tp % per:
            raise InvalidSpec("tp", f"tp={self.tp} exceeds the {per} chips of one {self.server.name} server: a "
                                    f"group spanning servers takes whole servers (a multiple of {per})")
        if self.tp <= per and per % self.tp:
            raise InvalidSpec("tp", f"tp={self.tp} must divide the {per} chips per server "
                                    "(topologies are 1x8 ring, 2x4 and 4x2 lines)")
        chips = self.tp * self.pp
        if chips <= per and per % chips:
            raise InvalidSpec("pp", f"tp x pp = {chips} chips must divide the {per} chips of a {self.server.name} "
                                    "server, or be a multiple of them (a replica spanning servers)")
        if chips > per and chips % per:
            raise InvalidSpec("pp", f"tp x pp = {chips} chips spans servers: it must be a multiple of the {per} "
                                    f"chips of a {self.server.name} server")
        if chips > per * self.servers:
            raise InvalidSpec("pp", f"tp x pp = {chips} chips needs {chips // per} {self.server.name} servers; "
                                    f"there are {self.servers} (add --servers)")
        if self.replicas is not None and not 1 <= self.replicas <= self.max_replicas:
            raise InvalidSpec("replicas", f"must be in [1, {self.max_replicas}] for {self.servers} x "
                                          f"{self.server.name} at tp={self.tp}")

    @property
    def chips_per_replica(self) -> int:
        return self.tp * self.pp

    @property
    def replicas_per_server(self) -> int:
        """Replicas on one server; 0 when a replica spans servers (servers_per_replica of them)."""
        return self.server.chips // self.chips_per_replica

    @property
    def servers_per_replica(self) -> int:
        return max(1, -(-self.chips_per_replica // self.server.chips))

    @property
    def max_replicas(self) -> int:
        if self.replicas_per_server == 0:
            return self.servers // self.servers_per_replica
        return self.servers * self.replicas_per_server

    @property
    def n_replicas(self) -> int:
        return self.replicas if self.replicas is not None else self.max_replicas

    @property
    def topology(self) -> str:
        """ESL topology of one replica: a closed ring when it spans the whole server, else a line."""
        if self.tp == 1:
            return "single"
        return "ring" if self.tp == self.server.chips and self.tp > 2 else "line"


# The serving-architecture fields of ServingConfig, which a policy file's `serving:` section may set too
# (batching, scheduling and fidelity come from the command line only).
from twin.serving.fields import ARCHITECTURE as ARCHITECTURE_FIELDS, CHOICES as SERVING_CHOICES  # noqa: E402,F401


@dataclass(frozen=True)
class ServingConfig:
    """How a replica serves: batching, prefill/decode policy, KV paging, preemption, routing."""

    max_batch: int = 256
    policy: str = "prefill-first"  # prefill-first | decode-first | chunked
    chunk_tokens: int = 512  # token budget per step under chunked prefill
    block_tokens: int = 16  # KV page size in tokens
    preemption: str = "recompute"  # recompute | swap
    router: str = "round-robin"  # round-robin | least-tokens | prefix-affinity
    fidelity: str = "step"  # step | layer
    sample_every_s: float = 1.0  # time-series sampling period
    seed: int = 0
    # serving architectures (rules in twin.serving.options)
    pd: str | None = None  # "P:D" prefill and decode replicas (disaggregation); None: colocated
    prefill_server: str | None = None  # catalogue server of the prefill pool (default: the decode one)
    prefill_router: str = "least-tokens"
    decode_router: str = "least-tokens"
    prefix_cache: str = "none"  # none | lru
    prefix_cache_share: float = 0.2  # of a replica's KV memory set aside for the device tier
    prefix_cache_gb: float | None = None  # or this many GB per replica (inf: unbounded)
    prefix_cache_host_gb: float = 0.0  # second tier in host memory, per replica, over PCIe
    speculative: int = 0  # drafted tokens per step (0: off)
    acceptance: float = 0.7  # per-token acceptance probability
    acceptance_dist: tuple[float, float] | None = None  # Beta(a, b) per request instead
    draft_model: str | None = None
    draft_skip: float | None = None  # share of the target's layers a self-speculative draft skips
    moe_routing: str = "uniform"  # uniform | skewed | active-only (twin.serving.moe)
    moe_zipf_s: float = 1.0  # Zipf exponent of expert popularity under skewed routing
    max_context: int | None = None  # longest request (input + output tokens); None: the model's context
    on_long_request: str = "reject"  # reject | clamp (output first, then input), both counted
    micro_batches: int | None = None  # a pipeline's micro-batches per step (None: one per stage)
    prefill_tp: int | None = None  # the prefill pool's tp (None: all of prefill_server's chips, or tp)
    prefill_pp: int | None = None  # and its pipeline stages (None: 1)
    prefill_ep: int | None = None  # and its expert parallelism (None: 1)
    expert_placement: str = "round-robin"  # round-robin | by-popularity: which chip holds which expert (ep > 1)
    gpu_stack: str = "eager"  # the GPU serving software: eager PyTorch, or an optimised engine (twin.serving.stack)

    def __post_init__(self) -> None:
        from twin.serving.options import check_architecture
        if self.acceptance_dist is not None:  # a JSON list back to a tuple
            object.__setattr__(self, "acceptance_dist", tuple(self.acceptance_dist))
        check_architecture(self)
        _positive(self, "max_batch", "chunk_tokens", "block_tokens", "sample_every_s")
        for name, allowed in SERVING_CHOICES.items():  # one table of serving fields (twin.serving.fields)
            if getattr(self, name) not in allowed:
                raise InvalidSpec(name, f"must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.max_context is not None and self.max_context < 2:
            raise InvalidSpec("max_context", f"must be >= 2 tokens (one in, one out), got {self.max_context}")
        for name in ("micro_batches", "prefill_tp", "prefill_pp", "prefill_ep"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise InvalidSpec(name, f"must be a whole number >= 1, got {value!r}")
        if not self.moe_zipf_s > 0:
            raise InvalidSpec("moe_zipf_s", f"must be > 0, got {self.moe_zipf_s!r}")


__all__ = ["MemorySpec", "KvCodecSpec", "ChipSpec", "LinkSpec", "HostSpec", "NetworkSpec", "ServerSpec", "ModelSpec",
           "ClusterSpec", "ServingConfig", "field"]
