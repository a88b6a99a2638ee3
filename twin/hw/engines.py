"""Compute engines of a chip: how long one matrix multiply takes on each, and how busy it keeps them.

A matmul is (M x K) . (K x N): M tokens, K inputs, N outputs (already split over the chips
of a tensor-parallel replica). Each engine answers ``cycles(m, k, n)``; the cost model runs
each operation on the engine that finishes it first (ADOR's heterogeneous design).

- ``MacTreeArray``: the LPU's SXE, ``trees`` MAC trees of ``lanes`` lanes, output-stationary,
  built for weight-streaming vector-matrix products (LPU paper, "SXE"; reference §1.1). A
  weight tile is ``lanes`` tall and ``trees`` wide; tiles are traversed down a column. With one
  token (GEMV) the trees take one tile per cycle and the pipeline never drains. With M tokens
  each tile is held while the tokens stream through, one per cycle; a tree holds partial sums
  for at most ``psum_tokens`` tokens, so tokens go in groups, and every (column, group) pass
  drains the adder-tree pipeline (``pipeline_depth_cycles``) before the next can accumulate.
  Large prefills therefore run at about psum / (psum + depth) of peak, plus tile-edge losses.
- ``SystolicArray``: ``rows x cols`` PEs, weight-stationary (ADOR, TPU-like): a K x N weight
  tile is loaded while the previous one computes, and M rows stream through with a fill and
  drain of rows + cols - 2 cycles per tile. Excellent for prefill, poor for one token.
- ``TensorCores``: a GPU's SMs running a library GEMM (cuBLAS/CUTLASS). The library picks an output
  tile shape per matmul (rows are the batch rounded up to the MMA granularity of 16); tiles are
  spread over the SMs in waves, so a partial last wave costs a whole one (wave quantisation).
  When there are fewer tiles than SMs, K is split (split-K / stream-K) so idle SMs take slices,
  at the price of a fix-up that sums the partial tiles. The main loop sustains a share of the MMA
  peak (the clock under load, pipeline bubbles). A kernel also pays a fixed fill
  and drain around its main loop (``kernel_tail_s``), exposed whatever bounds the loop. Calibrated on Vidur's measured operator times (bench_gemm.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from twin.errors import InvalidSpec


def _positive(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
                and math.isfinite(value)):
            raise InvalidSpec(name, f"must be a positive number, got {value!r}")


@dataclass(frozen=True)
class MacTreeArray:
    name: str
    trees: int  # l
    lanes: int  # v
    clock_ghz: float
    psum_tokens: int = 64  # partial sums one tree holds (tokens per pass); not published, assumed
    pipeline_depth_cycles: int = 16  # multiply, align, log2(64)=6 adder levels, accumulate; assumed
    type: str = "mac-tree"

    def __post_init__(self) -> None:
        _positive(self, "trees", "lanes", "clock_ghz", "psum_tokens", "pipeline_depth_cycles")

    @property
    def macs_per_cycle(self) -> int:
        return self.trees * self.lanes

    def cycles(self, m: float, k: float, n: float) -> float:
        columns, rows = math.ceil(n / self.trees), math.ceil(k / self.lanes)
        if m <= 1:  # GEMV: tiles stream back to back; the pipeline fills once
            return columns * rows * m + self.pipeline_depth_cycles
        groups = math.ceil(m / self.psum_tokens)
        return columns * (rows * m + groups * self.pipeline_depth_cycles)


@dataclass(frozen=True)
class SystolicArray:
    name: str
    rows: int
    cols: int
    clock_ghz: float
    type: str = "systolic"

    def __post_init__(self) -> None:
        _positive(self, "rows", "cols", "clock_ghz")

    @property
    def macs_per_cycle(self) -> int:
        return self.rows * self.cols

    def cycles(self, m: float, k: float, n: float) -> float:
        tiles = math.ceil(k / self.rows) * math.ceil(n / self.cols)
        return tiles * (m + self.rows + self.cols - 2)


@dataclass(frozen=True)
class TensorCores:
    name: str
    units: int  # streaming multiprocessors
    macs_per_unit_cycle: int  # dense FP16 MACs per SM per cycle
    clock_ghz: float  # the clock the datasheet's tensor TFLOPS are quoted at
    # Output tiles (rows x columns) the GEMM library may pick from; it runs the one that finishes first.
    tiles: tuple = ((128, 128),)
    mma_efficiency: float = 1.0  # share of the MMA issue rate the main loop sustains (clock under load, bubbles)
    split_k_min_depth: int = 0  # shortest K slice a split-K / stream-K kernel gives one SM; 0: never splits
    split_k_overhead_s: float = 0.0  # the fix-up that sums a split's partial tiles
    kernel_tail_s: float = 0.0  # a kernel's fill and drain around its main loop (first loads, epilogue, last wave)
    # Share of the shorter of a matmul's two phases, its operand stream from memory and its MMA main loop, that
    # the kernel's software pipeline (a few stages of loads in flight ahead of the MMAs) leaves exposed: a
    # kernel takes the longer phase plus this share of the shorter, not the longer alone. 0: perfect overlap.
    overlap_exposed: float = 0.0
    # The FlashAttention kernel's own share of the MMA issue rate (its pipeline is not a GEMM's); 0: the GEMMs'
    attention_mma_efficiency: float = 0.0
    # Exponentials per SM per cycle on the special-function units (CUDA C Programming Guide, arithmetic
    # instruction throughput: 16 for exp2 on compute capability 8.x and 9.0). Attention's softmax needs one per
    # score, and FlashAttention-2 runs it between its two MMAs (twin.hw.engines.attention_seconds).
    sfu_per_unit_cycle: int = 16
    # The decode attention kernel (paged attention with split-KV, twin.hw.engines.decode_blocks_seconds):
    # one (sequence, KV head) block's dependent chain on its SM (page-table walk, query load, first K/V tiles
    # at DRAM latency, the output write), and the kernel's own fill and drain. 0: the KV streams at the
    # memory's sustained share whatever the batch.
    decode_block_s: float = 0.0
    attention_tail_s: float = 0.0
    type: str = "tensor-core"

    def __post_init__(self) -> None:
        _positive(self, "units", "macs_per_unit_cycle", "clock_ghz", "mma_efficiency", "sfu_per_unit_cycle")
        object.__setattr__(self, "tiles", tuple((int(m), int(n)) for m, n in self.tiles))
        if not self.tiles or min(min(t) for t in self.tiles) <= 0:
            raise InvalidSpec("tiles", f"must be a non-empty list of [rows, columns] > 0, got {self.tiles!r}")
        if self.mma_efficiency > 1:
            raise InvalidSpec("mma_efficiency", f"must be at most 1, got {self.mma_efficiency!r}")
        for name in ("overlap_exposed", "attention_mma_efficiency"):
            if not 0 <= getattr(self, name) <= 1:
                raise InvalidSpec(name, f"must be in [0, 1], got {getattr(self, name)!r}")
        for name in ("split_k_min_depth", "split_k_overhead_s", "kernel_tail_s", "decode_block_s",
                     "attention_tail_s"):
            if getattr(self, name) < 0:
                raise InvalidSpec(name, f"must not be negative, got {getattr(self, name)!r}")

    @property
    def macs_per_cycle(self) -> int:
        return self.units * self.macs_per_unit_cycle

    def cycles(self, m: float, k: float, n: float) -> float:
        """The main loop and its split-K fix-up. The kernel's fill and drain (kernel_tail_s) is not in it: it
        shows whether the kernel is bound by its MMAs or by its memory stream, so the cost model adds it
        outside both."""
        return sum(self.phases(m, k, n))

    def phases(self, m: float, k: float, n: float) -> tuple[float, float]:
        """(main loop, split-K fix-up) cycles with the tile shape that finishes first."""
        return min((self._tile_phases(m, k, n, tm, tn) for tm, tn in self.tiles), key=sum)

    def _tile_phases(self, m: float, k: float, n: float, tile_m: int, tile_n: int) -> tuple[float, float]:
        """Main loop with one tile shape (waves of tiles over the SMs, K split when tiles are few), and the
        fix-up that sums a split's partial tiles."""
        rows = min(tile_m, 16 * math.ceil(max(m, 1) / 16))  # MMA granularity is 16 rows
        tiles = math.ceil(m / rows) * math.ceil(n / tile_n)
        split = self._split(tiles, k)
        waves = math.ceil(tiles * split / self.units)
        per_k = rows * tile_n / self.macs_per_unit_cycle
        cycles = waves * math.ceil(k / split) * per_k / self.mma_efficiency
        return cycles, (self.split_k_overhead_s * self.clock_ghz * 1e9 if split > 1 else 0.0)

    def _split(self, tiles: int, k: float) -> int:
        """K slices per output tile: enough to fill the idle SMs, none shorter than the minimum depth."""
        if not self.split_k_min_depth or tiles >= self.units:
            return 1
        return max(1, min(self.units // tiles, int(k // self.split_k_min_depth)))


Engine = MacTreeArray | SystolicArray | TensorCores
ENGINE_TYPES: dict[str, type] = {"mac-tree": MacTreeArray, "systolic": SystolicArray, "tensor-core": TensorCores}


def engine_seconds(engine: Engine, m: float, k: float, n: float) -> float:
    return engine.cycles(m, k, n) / (engine.clock_ghz * 1e9)


def kernel_tail_s(engine: Engine) -> float:
    """Fixed time one matmul kernel spends outside its main loop (GPUs; the LPU's engines are fed by a
    streaming pipeline whose fill is in their cycle counts)."""
    return getattr(engine, "kernel_tail_s", 0.0)


def overlap_exposed_s(engine: Engine, stream_s: float, m: float, k: float, n: float) -> float:
    """What an (m x k) by (k x n) matmul kernel whose operands stream in `stream_s` adds to the longer of that
    stream and its main loop: the share of the shorter its pipeline does not hide (GPUs; the LPU's engines
    consume the stream as it arrives, which their cycle counts include). The split-K fix-up is not part of
    the shorter phase here: the price keeps it beside the main loop inside the max (where Vidur's decode
    rows put it: outside the max their medians rise to 7-9 %). Below 16 rows (decode) only the arithmetic of
    the rows there are counts: the MMAs pad to 16 rows, and the padding's issue slots hold up no load
    (without this, gpt-fast's decode comes out 3 % slow: tests/twin/serving/test_stack.py)."""
    share = getattr(engine, "overlap_exposed", 0.0)
    if not share:
        return 0.0
    main_s = engine.phases(m, k, n)[0] / (engine.clock_ghz * 1e9) * min(1.0, m / 16)
    return share * min(stream_s, main_s)


# FlashAttention-2's tile of queries and keys (kBlockM x kBlockN, 128 x 128 for head dim 128 in its forward
# kernel): a prompt's diagonal tiles are computed whole and masked, so each prompt token costs half a tile of
# keys beyond the causal pairs.
ATTENTION_TILE = 128


def attention_seconds(engine: Engine, macs: float, scores: float) -> float:
    """Attention's score and context products (`macs`) over `scores` query-key pairs on `engine`.

    On tensor cores it is a FlashAttention kernel: the two MMAs of each tile at the share of the MMA rate
    the kernel sustains (attention_mma_efficiency), then the tile's softmax, whose exponentials queue on the SFUs (the
    FP32 max, scale and sum overlap other warps). On A100 this gives 190 TFLOPS for head dim 128, and 224
    without the softmax, against FlashAttention-2's measured 178-187 and 217-223 TFLOPS
    (tests/twin/hw/test_attention_kernels.py). The LPU's SXE takes the products at its peak (its VXE does
    the softmax beside it)."""
    if isinstance(engine, TensorCores):
        mma_s = macs / (peak_macs_per_s(engine) * (engine.attention_mma_efficiency or engine.mma_efficiency))
        return mma_s + scores / (engine.units * engine.sfu_per_unit_cycle * engine.clock_ghz * 1e9)
    return macs / peak_macs_per_s(engine)


def decode_blocks_seconds(engine: Engine, blocks: int) -> float:
    """The dependent chains of a decode attention kernel's `blocks` (sequence, KV head) pairs, in waves over the SMs.

    On tensor cores decode attention is a paged / split-KV kernel (FlashAttention-2's splitkv, FlashDecoding,
    vLLM's paged attention v2): each SM works its blocks one after another, each lasting the longer of its
    dependent chain (decode_block_s: page-table walk, query load, first K/V tiles at DRAM latency, output
    write) and its share of the KV stream. The kernel therefore takes the longer of these waves and of the
    KV at the sustained bandwidth (the cost model takes that max). Fewer blocks than SMs are split along the
    keys until they fill the SMs: one wave. On H100 this gives FlashAttention-2's paged decode to 6.8 %
    median, 11.7 % worst (tests/twin/hw/test_decode_attention.py). 0 elsewhere: the LPU streams its KV."""
    if not isinstance(engine, TensorCores) or blocks <= 0:
        return 0.0
    return math.ceil(blocks / engine.units) * engine.decode_block_s


def attention_tail_s(engine: Engine) -> float:
    """Fixed time of a GPU attention kernel outside its main loop (0 on the LPU's streaming engines)."""
    return getattr(engine, "attention_tail_s", 0.0)


def masked_keys_per_prompt_token(engine: Engine) -> float:
    """Keys a prompt token's diagonal tile computes beyond its causal ones (0 where no tile is padded)."""
    return ATTENTION_TILE / 2 if isinstance(engine, TensorCores) else 0.0


def peak_macs_per_s(engine: Engine) -> float:
    return engine.macs_per_cycle * engine.clock_ghz * 1e9


def engine_from_dict(data: Mapping[str, Any], where: str) -> Engine:
    if not isinstance(data, Mapping):
        raise InvalidSpec(where, "must be a mapping with a 'type'")
    cls = ENGINE_TYPES.get(data.get("type"))
    if cls is None:
        raise InvalidSpec(f"{where}.type", f"must be one of {', '.join(ENGINE_TYPES)}, got {data.get('type')!r}")
    from twin.config import build_spec
    return build_spec(cls, data, where)


def engines_from_dicts(items: Iterable[Any], where: str, calibration: Mapping[str, Any] | None = None) -> tuple:
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise InvalidSpec(where, "must be a list of engines")
    table = (calibration or {}).get("tensor_cores", {})
    return tuple(engine_from_dict(_resolved(item, table, f"{where}[{i}]"), f"{where}[{i}]")
                 for i, item in enumerate(items))


def _resolved(item: Any, table: Mapping[str, Any], where: str) -> Any:
    """An engine's fields written ``calibrated:<entry>`` read from calibration.yaml's ``tensor_cores.<entry>``."""
    if not isinstance(item, Mapping):
        return item
    out = dict(item)
    for field, value in item.items():
        if isinstance(value, str) and value.startswith("calibrated:"):
            entry = table.get(value.partition(":")[2], {})
            if field not in entry:
                raise InvalidSpec(f"{where}.{field}", f"no calibrated value {value!r} in tensor_cores")
            out[field] = entry[field]
    return out
