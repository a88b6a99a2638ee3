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
- ``TensorCores``: a GPU's SMs. Output tiles of ``tile_n`` columns and a row tile of the
  batch rounded up to the MMA granularity (16) up to ``tile_m``; tiles are spread over the SMs
  in waves, so a partial last wave costs a whole one (wave quantisation).
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
    tile_m: int = 128
    tile_n: int = 128
    type: str = "tensor-core"

    def __post_init__(self) -> None:
        _positive(self, "units", "macs_per_unit_cycle", "clock_ghz", "tile_m", "tile_n")

    @property
    def macs_per_cycle(self) -> int:
        return self.units * self.macs_per_unit_cycle

    def cycles(self, m: float, k: float, n: float) -> float:
        rows = min(self.tile_m, 16 * math.ceil(max(m, 1) / 16))
        tiles = math.ceil(m / rows) * math.ceil(n / self.tile_n)
        waves = math.ceil(tiles / self.units)
        return waves * rows * self.tile_n * k / self.macs_per_unit_cycle


Engine = MacTreeArray | SystolicArray | TensorCores
ENGINE_TYPES: dict[str, type] = {"mac-tree": MacTreeArray, "systolic": SystolicArray, "tensor-core": TensorCores}


def engine_seconds(engine: Engine, m: float, k: float, n: float) -> float:
    return engine.cycles(m, k, n) / (engine.clock_ghz * 1e9)


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
    return tuple(engine_from_dict(item, f"{where}[{i}]") for i, item in enumerate(items))
