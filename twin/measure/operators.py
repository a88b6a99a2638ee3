"""The twin's price of one profiled operator, against its measured time, and the fit of chip parameters
to operator profiles (twin.measure.profiles).

Each operator is priced the way the step cost model (twin.serving.cost) charges its part of a layer,
on one chip of the tensor-parallel group, in FP16:

- a linear layer: its kernel's fill and drain, then the slower of its stream (weights at the chip's weight
  bandwidth, input and output at its sustained bandwidth) and its main loop on the engine that finishes
  first, and
  what the kernel's pipeline leaves exposed of the shorter (twin.hw.engines.overlap_exposed_s);
  shards as Vidur profiles them (Megatron: QKV and FC1 split their outputs, O and FC2 their inputs);
- an elementwise kernel (norm, rotary embedding, activation, residual add): one launch-bound kernel
  (``chip.kernel_launch_s``) plus its activations read and written at the sustained bandwidth;
- attention: one launch plus the slower of the KV history stream and the score and context MACs
  (twin.serving.cost.CostModel.attention_macs_s: 2 x hidden x pairs / tp at the first engine's peak);
  a GPU's decode kernel also pays its fill and drain and is at least its (sequence, KV head) blocks'
  chains in waves over the SMs (twin.hw.engines.decode_blocks_seconds).

Fitting: the residuals are log(price / measured) per sample; the same bounded robust least squares
and identifiability check as request measurements (twin.measure.fit), with no replay (a price is a
formula). Held out by tensor-parallel degree when a profile has several, k-fold by row otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from twin.hw.engines import (attention_tail_s, decode_blocks_seconds, engine_seconds, kernel_tail_s,
                             overlap_exposed_s, peak_macs_per_s)
from twin.measure.fit import fit as run_fit, identifiable
from twin.measure.params import Param
from twin.measure.profiles import OperatorProfile, OperatorSample
from twin.replay import RunSpec

FP16 = 2
KINDS = ("matmul", "elementwise", "attention")


def matmul_shape(s: OperatorSample) -> tuple[int, int, int]:
    """(M, K, N) of a linear layer's shard."""
    sh, tp, m = s.shape, s.tp, s.tokens
    up = sh.ffn * (2 if sh.gated else 1)
    return {"attn_pre_proj": (m, sh.hidden, (sh.heads + 2 * sh.kv_heads) * sh.head_dim // tp),
            "attn_post_proj": (m, sh.hidden // tp, sh.hidden),
            "mlp_up_proj": (m, sh.hidden, up // tp),
            "mlp_down_proj": (m, sh.ffn // tp, sh.hidden)}[s.op]


def elementwise_bytes(s: OperatorSample) -> float:
    """Activations an elementwise kernel reads and writes."""
    sh, tp, t = s.shape, s.tp, s.tokens
    if s.op in ("input_layernorm", "post_attention_layernorm"):
        return FP16 * (2 * t * sh.hidden + sh.hidden)  # x in, y out, the norm's weight
    if s.op == "add":
        return FP16 * 3 * t * sh.hidden  # two in, one out
    if s.op == "mlp_act":
        return FP16 * (3 if sh.gated else 2) * t * sh.ffn / tp  # gate and up in (gated), one out
    return FP16 * 2 * t * (sh.heads + sh.kv_heads) * sh.head_dim / tp  # rope: Q and K rotated in place


def attention_parts(s: OperatorSample) -> tuple[float, float]:
    """(KV bytes streamed, MACs) of one attention kernel's shard."""
    sh, tp = s.shape, s.tp
    kv_bytes_per_token = 2 * FP16 * max(sh.kv_heads // tp, 1) * sh.head_dim
    if s.op == "attn_decode":
        pairs = s.batch * s.cached
    else:
        pairs = s.batch * s.tokens * (s.cached + (s.tokens + 1) / 2)  # causal within the chunk
    return s.batch * s.cached * kv_bytes_per_token, 2 * sh.hidden * pairs / tp


def profiled_chip(spec):
    """The chip a profile's kernels ran on: its weights streamed as the run's GPU stack streams them, each
    kernel priced alone as it was profiled (a fusing stack's figure per small kernel is a fused kernel's time
    inside a CUDA graph, not a profiled kernel's launch: the chip keeps its own, and can be fitted)."""
    chip = spec.server_spec().chip
    factor = spec.served_server().chip.weight_stream_factor
    return chip if factor == chip.weight_stream_factor else dataclasses.replace(chip, weight_stream_factor=factor)


def matmul_kernel_s(chip, m: float, k: float, n: float) -> float:
    """One FP16 (m x k) by (k x n) matmul kernel on `chip`, on the engine that finishes it first: its fill and
    drain, the slower of its operand stream and its main loop, and what its pipeline leaves exposed of the
    shorter (as the step cost model charges each of a layer's matmuls)."""
    best = min(chip.compute_engines, key=lambda e: engine_seconds(e, m, k, n))
    stream_s = FP16 * k * n / chip.weight_bytes_per_s + FP16 * (m * k + m * n) / chip.memory.sustained_bytes_per_s
    return kernel_tail_s(best) + max(stream_s, engine_seconds(best, m, k, n)) + overlap_exposed_s(best, stream_s,
                                                                                                 m, k, n)


def price_s(chip, s: OperatorSample) -> float:
    """The twin's time for one profiled operator on `chip`."""
    bw = chip.memory.sustained_bytes_per_s
    if s.kind == "matmul":
        return matmul_kernel_s(chip, *matmul_shape(s))
    if s.kind == "elementwise":
        return chip.kernel_launch_s + elementwise_bytes(s) / bw
    kv_bytes, macs = attention_parts(s)
    engine = chip.compute_engines[0]
    time_s = chip.kernel_launch_s + max(kv_bytes / bw, macs / peak_macs_per_s(engine))
    if s.op == "attn_decode":
        blocks = s.batch * max(s.shape.kv_heads // s.tp, 1)
        time_s = max(time_s, chip.kernel_launch_s + decode_blocks_seconds(engine, blocks)) + attention_tail_s(engine)
    return time_s


def log_errors(chip, samples: list[OperatorSample]) -> np.ndarray:
    return np.array([np.log(price_s(chip, s) / s.measured_s) for s in samples])


def _stats(rel: np.ndarray) -> dict:
    if not rel.size:
        return {"samples": 0, "median_abs_error": None, "p90_abs_error": None, "signed_median_error": None}
    return {"samples": int(rel.size), "median_abs_error": float(np.median(np.abs(rel))),
            "p90_abs_error": float(np.percentile(np.abs(rel), 90)), "signed_median_error": float(np.median(rel))}


def report(chip, samples: list[OperatorSample]) -> dict:
    """Relative error (price - measured) / measured per operator, per kind and over all samples."""
    rel = np.expm1(log_errors(chip, samples)) if samples else np.zeros(0)
    ops = sorted({s.op for s in samples})
    return {"operators": {op: _stats(rel[[i for i, s in enumerate(samples) if s.op == op]]) for op in ops},
            "kinds": {k: _stats(rel[[i for i, s in enumerate(samples) if s.kind == k]]) for k in KINDS
                      if any(s.kind == k for s in samples)},
            "all": _stats(rel)}


def check_model(profile: OperatorProfile, model) -> None:
    """The profile's layer shapes are those of the catalogue model named with it."""
    from twin.errors import InvalidSpec
    for sh in profile.shapes:
        wanted = (model.hidden, model.heads, model.kv_dim // (model.hidden // model.heads))
        got = (sh.hidden, sh.heads, sh.kv_heads)
        if got != wanted or (sh.ffn and sh.ffn != model.ffn):
            raise InvalidSpec(profile.path[:200], f"profiled shape (n_embd, heads, kv heads, ffn) = "
                                                  f"{(*got, sh.ffn)} is not {model.name}'s "
                                                  f"{(*wanted, model.ffn)}")


@dataclass
class OperatorProblem:
    """What twin.measure.fit needs of a problem: the parameters, their start, stacked residuals."""

    spec: RunSpec
    profiles: list[OperatorProfile]
    params: list[Param]
    start: dict[str, float]
    hook: Callable[[int], None] | None = None  # called with the evaluations so far before each new one
    _cache: dict = field(default_factory=dict)

    def chip(self, values: dict[str, float]):
        key = tuple(sorted(values.items()))
        if key not in self._cache:
            if self.hook is not None:
                self.hook(len(self._cache))
            spec = dataclasses.replace(self.spec, overrides={**(self.spec.overrides or {}), **values})
            self._cache[key] = profiled_chip(spec)
        return self._cache[key]

    def residuals(self, values: dict[str, float], file: int) -> np.ndarray:
        return log_errors(self.chip(values), self.profiles[file].samples)

    def stacked(self, values: dict[str, float], selection: list[np.ndarray]) -> np.ndarray:
        parts = [self.residuals(values, f)[rows] for f, rows in enumerate(selection) if len(rows)]
        return np.concatenate(parts) if parts else np.zeros(0)

    def errors(self, values: dict[str, float], selection: list[np.ndarray]) -> dict:
        chip = self.chip(values)
        samples = [self.profiles[f].samples[i] for f, rows in enumerate(selection) for i in rows]
        return report(chip, samples)


def folds(profiles: list[OperatorProfile], k: int) -> list[tuple[str, list[np.ndarray], list[np.ndarray]]]:
    """(label, train, test): by file if several, by tensor-parallel degree if several, else k-fold by row."""
    sizes = [len(p.samples) for p in profiles]
    if len(profiles) > 1:
        return [(p.path, [np.arange(n) if f != i else np.arange(0) for f, n in enumerate(sizes)],
                 [np.arange(n) if f == i else np.arange(0) for f, n in enumerate(sizes)])
                for i, p in enumerate(profiles)]
    tps = np.array([s.tp for s in profiles[0].samples])
    if len(set(tps)) > 1:
        return [(f"tp {d}", [np.flatnonzero(tps != d)], [np.flatnonzero(tps == d)]) for d in sorted(set(tps))]
    index = np.arange(sizes[0])
    return [(f"fold {i + 1}/{k}", [index[index % k != i]], [index[index % k == i]]) for i in range(k)]


def calibrate(problem: OperatorProblem, k: int = 3) -> dict:
    """Fit on every sample, and per fold the held-out error before and after: the calibration's record."""
    everything = [np.arange(len(p.samples)) for p in problem.profiles]
    free, left = identifiable(problem, everything)  # type: ignore[arg-type]  # the same interface
    fitted = run_fit(problem, everything)  # type: ignore[arg-type]
    held_out = []
    for label, train, test in folds(problem.profiles, k) if k > 1 or len(problem.profiles) > 1 else []:
        after = run_fit(problem, train)  # type: ignore[arg-type]
        held_out.append({"fold": label, "before": problem.errors(problem.start, test)["all"],
                         "after": problem.errors(after, test)["all"], "fitted": {p.key: after[p.key] for p in free}})
    return {"kind": "operator-profile", "fitted": {p.key: fitted[p.key] for p in free}, "left_at_default": left,
            "defaults": {p.key: problem.start[p.key] for p in problem.params},
            "residuals": {"before": problem.errors(problem.start, everything),
                          "after": problem.errors(fitted, everything)},
            "held_out": held_out, "evaluations": len(problem._cache)}
