"""The types of a run's result: what `twin.replay.summarize` returns, section by section.

These are the one definition of the summary that the JSON output, the store, the human summary and
the HTML report all read. `docs/summary.schema.json` is generated from them (`python -m twin.schema`)
and a test holds the file equal to the types and every real summary valid against it: a key added to
a summary without its type here fails, as does a type changed without the schema. Sections are closed
(no keys beyond those listed); maps keyed by names (engines, pools, policies) are open.

Units are in the names: _s simulated seconds, _j joules, _w watts, _gb 1e9 bytes, _mm2 square
millimetres; utilisations, shares and rates of hits are fractions in [0, 1].
"""


from typing import Literal, NotRequired, TypedDict


class Requests(TypedDict):
    total: int  # requests recorded (finished, rejected or stopped)
    done: int
    rejected: int
    preempted: int
    submitted: int
    max_context: int
    on_long_request: str
    too_long_rejected: int
    clamped: int


class Percentiles(TypedDict):
    mean: float | None  # None when no request gave the figure
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


class Throughput(TypedDict):
    output_tokens_per_s: float
    requests_per_s: float
    input_tokens_per_s: float
    output_tokens: int
    decode_tokens_per_s: float


class SloAttainment(TypedDict):
    ttft_s: float | None
    tpot_s: float | None
    attained: float | None  # over every recorded request: rejected ones missed it
    attained_of_completed: float | None  # over the requests that finished


class Interconnect(TypedDict):
    kind: str  # ESL ring | NVLink
    link: str
    transfer_s_per_chip: float
    exposed_s_per_chip: float
    busy_s_per_chip: float  # >= exposed and >= transfer


class Pipeline(TypedDict):
    """A pipelined pool (pp > 1): its stages and the bubble its schedule leaves."""

    stages: int
    layers_per_stage: int  # the largest stage's
    micro_batches: int  # per step, at most
    stage_links: list[str]  # the link each stage boundary crosses (ESL ring, NVLink, network)
    idle_share: float  # of the busy time, what the schedule left each stage idle
    stage_busy_s: NotRequired[list[float]]  # layer fidelity: each stage's chips at work (its replicas' sum), s


class ExpertParallel(TypedDict):
    """An expert-parallel pool (ep > 1): where its experts sit and how evenly the routes fall on its chips."""

    ep: int  # chips the experts of a layer spread over (the tensor-parallel group)
    placement: str  # round-robin | by-popularity
    experts_per_chip: int
    all_to_all_link: str  # the link dispatch and combine cross (NVLink, ESL ring; and network across servers)
    busiest_chip_route_share: float  # of the routes, the busiest chip's experts' (1 / ep when even)


class Work(TypedDict):
    """What a pool, or the whole run, did with its chips: utilisations (work over capacity: at most 1), the
    engines it ran on, its KV and weights, and the work it counted. Pools and runs report it alike."""

    memory_kind: str
    memory_efficiency: float
    # GPUs whose serving stack streams weights faster than the memory's share (twin.serving.stack): that share
    weight_stream_efficiency: NotRequired[float]
    replicas_working: int
    hbm_bandwidth_util: float
    hbm_bandwidth_util_busy: float
    mac_util: float
    mac_util_busy: float
    prefill_mac_util: float
    engines: dict[str, str]
    prefill_engine: str | None
    decode_engine: str | None
    replica_busy: float
    kv_peak_occupancy: float
    kv_capacity_tokens: int
    weights_gb_per_chip: float
    bound_by: str
    steps: int
    prefill_tokens: int
    decode_tokens: int


class DeployedPool(TypedDict):
    role: Literal["both", "prefill", "decode"]
    server: str
    chip: str
    tp: int
    pp: int
    replicas: int
    ep: NotRequired[int]  # expert parallelism, when > 1


class PoolHardware(Work, DeployedPool):
    chips: int
    interconnect: Interconnect
    pipeline: NotRequired[Pipeline]
    experts: NotRequired[ExpertParallel]


class Hardware(Work):
    interconnect: str
    link_busy_s_per_chip: float
    link_exposed_s_per_chip: float
    preemptions: int
    swap_gb: float
    decode_tokens_per_s: float
    pools: dict[str, PoolHardware]


class ChipEnergy(TypedDict):
    static_j: float
    compute_j: float


class MemoryEnergy(TypedDict):
    static_j: float
    access_j: float


class LinkEnergy(TypedDict):
    transfer_j: float


class HostEnergy(TypedDict):
    static_j: float


class EnergyComponents(TypedDict):
    chips: ChipEnergy
    memory: MemoryEnergy
    links: LinkEnergy
    host: HostEnergy


class PoolEnergy(TypedDict):
    energy_j: float
    device_j: float  # chips, memory and links
    host_j: float
    avg_power_w: float
    device_avg_power_w: float | None
    peak_power_w: float
    static_power_w: float
    components: EnergyComponents


class Energy(PoolEnergy):
    j_per_output_token: float | None
    device_j_per_output_token: float | None
    output_tok_s_per_kw: float | None
    pools: dict[str, PoolEnergy]
    idle: NotRequired[dict[str, float]]  # joules of chips no replica used, by server type


class Uncore(TypedDict):
    """An LPU-like ASIC's modelled uncore per chip, by block (twin.area.uncore_mm2)."""

    hbm_phy_mm2: float
    memory_controller_mm2: float
    esl_serdes_mm2: float
    pcie_mm2: float


class PoolArea(TypedDict):
    chip: str
    die_mm2_per_chip: float | None  # the whole die
    core_mm2_per_chip: float | None  # the compute core (published, or the per-unit LPU model)
    uncore_mm2_per_chip: Uncore | None  # modelled; None where the whole die is published
    chips: float
    total_mm2: float | None
    source: str  # which figure is published and which modelled


class Area(TypedDict):
    die_mm2_per_chip: float | None  # None when the pools' chips differ
    chips: float
    total_mm2: float | None
    source: str
    output_tok_s_per_mm2: float | None
    pools: dict[str, PoolArea]


class ZeroShot(TypedDict):
    accuracy_pct: float
    fp16_accuracy_pct: float
    delta_pct: float


class Accuracy(TypedDict):
    source: str
    kv_scheme: str
    table_row: str
    model: str
    wikitext2_ppl: float
    fp16_wikitext2_ppl: float
    delta_ppl: float
    zero_shot: dict[str, ZeroShot]
    published_effective_bits: float | None


class UnknownAccuracy(TypedDict):
    unknown: str  # why no published figure exists


# a switch's "from" is a Python keyword: the functional form names it
Switch = TypedDict("Switch", {"t_s": float, "replica": int, "from": str, "to": str, "cause": str})


class Quant(TypedDict):
    policy: str  # at the end of the run
    weights: str
    kv_bits_per_elem: float  # weighted by the tokens each policy stored
    kv_bits_time_weighted: float
    kv_bits_by_policy: dict[str, float]
    kv_token_share: dict[str, float]
    kv_time_share: dict[str, float]
    kv_schemes: list[str]
    expected_accuracy: dict[str, Accuracy | UnknownAccuracy]
    token_weighted_delta_ppl: float | None
    token_weighted_delta_ppl_note: str
    codec_exposed_s: float
    switches: list[Switch]
    switch_count: int


class PrefixCache(TypedDict):
    lookups: int
    block_hit_rate: float
    token_hit_rate: float
    hit_tokens: int
    host_hit_tokens: int
    prefill_tokens_saved: int
    evictions: int
    host_evictions: int
    device_capacity_tokens: float
    replica_lookups_min: int  # lookups (requests with prefix blocks) at the replica that had fewest
    replica_lookups_max: int  # ... and most: their spread shows how evenly the router shared the load


class Speculative(TypedDict):
    k: int
    draft: str
    tokens_per_step: float
    expected_tokens_per_step: float
    draft_time_share: float
    verify_time_share: float
    tpot_gain_one_sequence: float


class Disaggregation(TypedDict):
    prefill: int
    decode: int
    transfers: int
    kv_gb_moved: float
    transfer_mean_s: float
    transfer_p99_s: float
    hidden_share: float
    wait_for_room_mean_s: float


class Architecture(TypedDict):
    deployment: Literal["colocated", "disaggregated"]
    prefix_cache: NotRequired[PrefixCache]
    speculative: NotRequired[Speculative]
    disaggregation: NotRequired[Disaggregation]


class KvLayout(TypedDict):
    """A KV cache that differs in kind: DeepSeek's latent, or local and global layers (Gemma)."""

    kind: Literal["latent", "local-global"]
    kv_bytes_per_token: float  # over the replica, every layer, every chip's copy counted (as the blocks hold it)
    kv_copies: float  # copies of the KV the tensor-parallel chips keep (a latent: one per chip)
    local_layers: int
    window: int | None  # tokens a local layer attends at most
    kv_bytes_per_token_past_window: float  # what a token past the window needs: the global layers' KV alone


class Twin(TypedDict):
    server: str
    chip: str
    servers: int
    tp: int
    pp: int
    replicas: int
    model: str
    policy: str
    fidelity: str
    max_batch: int
    scheduler: str
    topology: str
    simulated_s: float
    memory_kind: str
    interconnect: str
    deployment: list[DeployedPool]
    moe_routing: NotRequired[str]
    ep: NotRequired[int]  # expert parallelism of the main pool, when > 1
    kv_layout: NotRequired[KvLayout]
    gpu_stack: NotRequired[str]  # a run with GPUs: eager or optimised (twin.serving.stack)


class PoolRates(TypedDict):
    prefill_requests_per_s: float
    decode_requests_per_s: float


class NextStep(TypedDict):
    """What would give a loaded colocated cluster headroom (twin.capacity.headroom_step)."""

    servers: int  # the fewest servers of this layout with a load factor under 0.8
    replicas: int
    load_factor_then: float
    rate_rps: float  # or the highest arrival rate this cluster keeps that headroom at


class Load(TypedDict):
    offered_requests_per_s: float | None
    offered_tokens_per_s: float | None
    mean_input_tokens: float
    mean_output_tokens: float
    sustainable_requests_per_s: float
    sustainable_tokens_per_s: float
    load_factor: float | None
    verdict: str
    batch: int
    batch_limited_by: str
    saturates: str
    prefill_s: float
    decode_step_s: float
    pools: NotRequired[PoolRates]
    next_step: NotRequired[NextStep | None]


class TraceInfo(TypedDict):
    name: str
    format: str
    requests: int
    bad_rows_skipped: int
    clamped: int
    out_of_order: int


class RateTry(TypedDict):
    rate_rps: float
    attained: float


class RateSearch(TypedDict):
    goodput_rps: float | None
    target: float
    evaluations: list[RateTry]


class Summary(TypedDict):
    """A run's summary (twin.replay.summarize), with what the CLI and controller add (trace, load)."""

    status: str  # complete | cancelled | interrupted | failed
    requests: Requests
    makespan_s: float
    ttft_s: Percentiles
    tpot_s: Percentiles
    e2e_s: Percentiles
    throughput: Throughput
    slo: SloAttainment
    hardware: Hardware
    quant: Quant
    energy: Energy | None  # None when a chip states no power figures
    area: Area
    architecture: Architecture
    twin: Twin
    trace: NotRequired[TraceInfo]
    load: NotRequired[Load]
    rate_search: NotRequired[RateSearch]
