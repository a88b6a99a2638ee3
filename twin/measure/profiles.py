"""Operator profiles in the layout of Vidur's profiling CSVs: measured kernel times by token count and
tensor-parallel degree, streamed row by row.

Vidur (github.com/microsoft/vidur, data/profiling/compute/<gpu>/<org>/<model>/) writes two files per
model and GPU, one row per profiled point, each operator's CUDA time in ``time_stats.<op>.{min,max,
mean,median,std}`` (milliseconds); the twin reads the median.

- ``mlp.csv``: a decoder layer's operators outside attention, by ``num_tokens`` and
  ``num_tensor_parallel_workers``, with the model's shape (``n_head``, ``n_kv_head``, ``n_embd``,
  ``n_expanded_embd``, ``use_gated_mlp``). Operators: the four linear layers (``attn_pre_proj``,
  ``attn_post_proj``, ``mlp_up_proj``, ``mlp_down_proj``) and the elementwise kernels
  (``input_layernorm``, ``post_attention_layernorm``, ``attn_rope``, ``mlp_act``, ``add``).
- ``attention.csv``: the attention kernel of ``batch_size`` sequences, by ``prefill_chunk_size``,
  ``kv_cache_size`` (tokens already cached per sequence) and ``is_prefill``, with ``n_embd``,
  ``n_q_head``, ``n_kv_head``. Operators: ``attn_prefill`` or ``attn_decode``.

A profile's layout is told by its header. An operator whose median column is absent or empty in a
row is not counted for that row; a bad value names file, line and column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from twin.errors import InvalidSpec, TraceFormatError
from twin.measure.records import file_sha256
from twin.traces.readers import text_lines

MATMULS = ("attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj")
ELEMENTWISE = ("input_layernorm", "post_attention_layernorm", "attn_rope", "mlp_act", "add")
ATTENTION = ("attn_prefill", "attn_decode")
LAYOUTS = {
    "mlp": ("num_tokens", "num_tensor_parallel_workers", "n_head", "n_kv_head", "n_embd", "n_expanded_embd",
            "use_gated_mlp"),
    "attention": ("num_tensor_parallel_workers", "n_q_head", "n_kv_head", "n_embd", "batch_size",
                  "prefill_chunk_size", "kv_cache_size", "is_prefill"),
}
TRUE, FALSE = ("true", "1"), ("false", "0")


@dataclass(frozen=True)
class Shape:
    """The profiled model's layer, as Vidur records it beside every row."""

    hidden: int
    heads: int
    kv_heads: int
    ffn: int = 0  # 0 in attention profiles
    gated: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


@dataclass(frozen=True)
class OperatorSample:
    """One operator's measured time at one profiled point."""

    op: str
    line: int
    tp: int
    tokens: int  # tokens through the operator (mlp.csv's num_tokens; an attention row's chunk or batch)
    shape: Shape
    measured_s: float
    batch: int = 1  # attention rows: sequences, each with `cached` tokens of KV before this step
    cached: int = 0

    @property
    def kind(self) -> str:
        return "matmul" if self.op in MATMULS else "attention" if self.op in ATTENTION else "elementwise"


@dataclass
class OperatorProfile:
    path: str
    sha256: str
    layout: str
    samples: list[OperatorSample] = field(default_factory=list)

    @property
    def shapes(self) -> set[Shape]:
        return {s.shape for s in self.samples}


def layout_of(header: list[str]) -> str | None:
    """'mlp' or 'attention' when the header is a Vidur profile's, else None."""
    if not any(c.startswith("time_stats.") for c in header):
        return None
    for name, required in LAYOUTS.items():
        if all(c in header for c in required):
            return name
    return None


def is_profile(path: Path) -> bool:
    """Whether a CSV file's header is a Vidur profile's (read: the first line only)."""
    first = next(iter(text_lines(path)), "")
    return layout_of(next(csv.reader([first]), [])) is not None


def load_profile(path: str | Path) -> OperatorProfile:
    path = Path(path)
    if not path.is_file():
        raise InvalidSpec(str(path)[:200], "no such profile file")
    lines = text_lines(path)
    reader = csv.reader(lines)
    header = next(reader, None) or []
    layout = layout_of(header)
    if layout is None:
        required = ", ".join(LAYOUTS["mlp"])
        raise TraceFormatError(path.name, 1, "<header>", "not a Vidur operator profile (an mlp.csv has "
                                                         f"time_stats.<op>.median and {required})")
    profile = OperatorProfile(path.name, file_sha256(path), layout)
    ops = [op for op in (ATTENTION if layout == "attention" else MATMULS + ELEMENTWISE)
           if f"time_stats.{op}.median" in header]
    if not ops:
        raise TraceFormatError(path.name, 1, "<header>", f"no time_stats.<op>.median column of a known operator "
                                                         f"({', '.join(ATTENTION if layout == 'attention' else MATMULS + ELEMENTWISE)})")
    for values in reader:
        if not values:
            continue
        if len(values) != len(header):
            raise TraceFormatError(path.name, reader.line_num, "<line>", f"{len(values)} fields, the header has "
                                                                         f"{len(header)}")
        profile.samples.extend(_samples(dict(zip(header, values)), layout, ops, path.name, reader.line_num))
    if not profile.samples:
        raise InvalidSpec(path.name, "no profiled operator times in this profile")
    return profile


def _samples(row: dict, layout: str, ops, name: str, line: int) -> Iterator[OperatorSample]:
    def whole(col: str, low: int = 1) -> int:
        text = row[col].strip()
        try:
            value = float(text)
        except ValueError:
            raise TraceFormatError(name, line, col, f"not a number: {text[:40]!r}") from None
        if not math.isfinite(value) or value != int(value) or value < low:
            raise TraceFormatError(name, line, col, f"must be a whole number >= {low}, got {text[:40]!r}")
        return int(value)
    tp = whole("num_tensor_parallel_workers")
    if layout == "mlp":
        shape = Shape(whole("n_embd"), whole("n_head"), whole("n_kv_head"), whole("n_expanded_embd"),
                      _flag(row, "use_gated_mlp", name, line))
        tokens, batch, cached = whole("num_tokens"), 1, 0
    else:
        shape = Shape(whole("n_embd"), whole("n_q_head"), whole("n_kv_head"))
        batch, chunk, cached = whole("batch_size"), whole("prefill_chunk_size", 0), whole("kv_cache_size", 0)
        prefill = _flag(row, "is_prefill", name, line)
        ops = [op for op in ops if op == ("attn_prefill" if prefill else "attn_decode")]
        if prefill and chunk < 1:
            raise TraceFormatError(name, line, "prefill_chunk_size", "a prefill row needs a chunk of >= 1 token")
        tokens = chunk if prefill else batch
    if shape.hidden % shape.heads or shape.heads % shape.kv_heads:
        raise TraceFormatError(name, line, "n_head", f"{shape.heads} heads do not divide n_embd {shape.hidden} "
                                                     f"or are not a multiple of the {shape.kv_heads} KV heads")
    for op in ops:
        col = f"time_stats.{op}.median"
        text = row[col].strip()
        if not text:
            continue
        try:
            ms = float(text)
        except ValueError:
            raise TraceFormatError(name, line, col, f"not a number: {text[:40]!r}") from None
        if not math.isfinite(ms) or ms <= 0:
            raise TraceFormatError(name, line, col, f"must be a time > 0 (ms), got {text[:40]!r}")
        yield OperatorSample(op, line, tp, tokens, shape, ms * 1e-3, batch, cached)


def _flag(row: dict, col: str, name: str, line: int) -> bool:
    text = row[col].strip().lower()
    if text not in TRUE + FALSE:
        raise TraceFormatError(name, line, col, f"must be True or False, got {row[col][:40]!r}")
    return text in TRUE
