"""A model entry from a Hugging Face ``config.json``.

Families: Llama, Mistral, Mixtral, OPT, Qwen2 (and its MoE), Qwen3 (and its MoE: head_dim given), DeepSeek-V2/V3
(multi-head latent attention, shared experts, dense first layers) and Gemma 2/3 (local and global layers).
Only the architecture is read (layers, widths, heads, experts, attention kind, context, window, tying); the
result is validated as a ModelSpec, so a config the twin cannot model is refused with the key, and its
`published_params_b` is the count the dimensions give.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable, Mapping

from twin.catalog.index import valid_name
from twin.config import ModelSpec, build_spec
from twin.errors import InvalidSpec

MAX_CONFIG_BYTES = 1024 * 1024
GATED = {"llama": "llama", "mistral": "mistral", "mixtral": "mixtral", "qwen2": "qwen2", "qwen2_moe": "qwen2",
         "qwen3": "qwen3", "qwen3_moe": "qwen3"}
DEEPSEEK = ("deepseek_v2", "deepseek_v3")
GEMMA = {"gemma2": 2, "gemma3": 6, "gemma3_text": 6}  # every N-th layer global (transformers' defaults)
FAMILIES = (*GATED, "opt", *DEEPSEEK, *GEMMA)


def _get(cfg: Mapping[str, Any], source: str, *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in cfg and cfg[key] is not None:
            return cfg[key]
    if default is None:
        raise InvalidSpec(f"{source}: {keys[0]}", "is missing")
    return default


def _whole(cfg: Mapping[str, Any], source: str, key: str, default: int) -> int:
    """A count the code compares before the spec's checks run (so a wrong type is named, never a crash)."""
    value = _get(cfg, source, key, default=default)
    if not (isinstance(value, int) and not isinstance(value, bool)):
        raise InvalidSpec(f"{source}: {key}", f"must be a whole number, got {type(value).__name__}")
    return value


def model_from_hf_config(cfg: Any, name: str, source: str) -> dict[str, Any]:
    """The catalogue YAML fields (as a dict) of the model `cfg` describes."""
    if not valid_name(name):
        raise InvalidSpec("--name", "must be an identifier (letters, digits, '.', '-', '_'; no '..')")
    if not isinstance(cfg, Mapping):
        raise InvalidSpec(source, "must be a JSON object")
    family = cfg.get("model_type")
    if family not in FAMILIES:
        raise InvalidSpec(f"{source}: model_type", f"{str(family)[:40]!r} is not one of {', '.join(FAMILIES)}")
    if family == "gemma3" and isinstance(cfg.get("text_config"), Mapping):  # the multimodal config: its decoder
        cfg = {"model_type": family, **cfg["text_config"]}
    data = {"name": name, "family": family, **_common(cfg, source, family), **BUILDERS[_kind(family)](cfg, source)}
    data["published_params_b"] = 0.0
    data["description"] = f"imported from a Hugging Face config.json ({family})"
    try:
        spec = build_spec(ModelSpec, data, "config")  # types too: `sliding_window: "abc"` is refused, never written
    except InvalidSpec as exc:
        raise InvalidSpec(f"{source}: {exc.field.removeprefix('config.')}", exc.message) from None
    data["published_params_b"] = round(spec.params / 1e9, 3)  # what the dimensions give (no published figure)
    return {f.name: data[f.name] for f in fields(ModelSpec) if f.name in data}  # the catalogue's order


def _kind(family: str) -> str:
    return "deepseek" if family in DEEPSEEK else "gemma" if family in GEMMA else "gated" if family in GATED \
        else "opt"


def _common(cfg: Mapping[str, Any], source: str, family: str) -> dict[str, Any]:
    heads, hidden = _get(cfg, source, "num_attention_heads"), _get(cfg, source, "hidden_size")
    head_dim = cfg.get("head_dim")
    explicit = head_dim is not None and not (isinstance(heads, int) and isinstance(hidden, int) and heads > 0
                                             and head_dim * heads == hidden)
    return {"layers": _get(cfg, source, "num_hidden_layers"), "hidden": hidden, "heads": heads,
            "kv_heads": _get(cfg, source, "num_key_value_heads", default=heads),
            "vocab": _get(cfg, source, "vocab_size"), "max_context": _get(cfg, source, "max_position_embeddings"),
            "ffn_matrices": 2 if family == "opt" else 3,
            "tied_embeddings": bool(cfg.get("tie_word_embeddings", family in ("opt", *GEMMA))),
            "learned_positions": family == "opt", **({"head_size": head_dim} if explicit else {})}


def _gated(cfg: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Llama-shaped: one gated MLP, or a mixture of experts of them (Mixtral, Qwen2/3-MoE)."""
    experts = _whole(cfg, source, "num_local_experts", _whole(cfg, source, "num_experts", 1))
    if cfg.get("mlp_only_layers"):
        raise InvalidSpec(f"{source}: mlp_only_layers", "dense layers among the MoE ones are not modelled")
    window = cfg.get("sliding_window") if cfg.get("use_sliding_window", True) else None
    return {"ffn": _get(cfg, source, "moe_intermediate_size" if experts > 1 else "intermediate_size",
                        "intermediate_size"),
            "experts": experts,
            "experts_top_k": _get(cfg, source, "num_experts_per_tok", default=1) if experts > 1 else 1,
            "sliding_window": window}


def _opt(cfg: Mapping[str, Any], source: str) -> dict[str, Any]:
    return {"ffn": _get(cfg, source, "ffn_dim"), "experts": 1, "experts_top_k": 1, "sliding_window": None}


def _deepseek(cfg: Mapping[str, Any], source: str) -> dict[str, Any]:
    """DeepSeek-V2/V3: latent attention (kv_lora_rank, ...), routed and shared experts after the first
    first_k_dense_replace dense layers."""
    if _whole(cfg, source, "moe_layer_freq", 1) != 1:
        raise InvalidSpec(f"{source}: moe_layer_freq", "only every layer after the dense ones being MoE is modelled")
    experts = _whole(cfg, source, "n_routed_experts", 1)
    moe = experts > 1
    return {"ffn": _get(cfg, source, "moe_intermediate_size" if moe else "intermediate_size"),
            "experts": experts, "experts_top_k": _get(cfg, source, "num_experts_per_tok") if moe else 1,
            "shared_experts": _get(cfg, source, "n_shared_experts", default=0) if moe else 0,
            "dense_layers": _get(cfg, source, "first_k_dense_replace", default=0) if moe else 0,
            "dense_ffn": _get(cfg, source, "intermediate_size") if moe else 0,
            "kv_lora_rank": _get(cfg, source, "kv_lora_rank"), "q_lora_rank": cfg.get("q_lora_rank") or 0,
            "qk_nope_head_dim": _get(cfg, source, "qk_nope_head_dim"),
            "qk_rope_head_dim": _get(cfg, source, "qk_rope_head_dim"), "v_head_dim": _get(cfg, source, "v_head_dim"),
            "sliding_window": None}


def _gemma(cfg: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Gemma 2/3: gated GeLU MLP, local (sliding_window) and global layers in a fixed pattern."""
    window = cfg.get("sliding_window")
    pattern: Any = GEMMA[str(cfg.get("model_type"))]
    if isinstance(cfg.get("layer_types"), list):
        window, pattern = _layer_types(cfg["layer_types"], window, source)
    else:
        pattern = cfg.get("sliding_window_pattern") or pattern
    return {"ffn": _get(cfg, source, "intermediate_size"), "experts": 1, "experts_top_k": 1,
            "sliding_window": window, "sliding_window_pattern": pattern if window is not None else None}


def _layer_types(kinds: list, window: Any, source: str) -> tuple[Any, int | None]:
    """(window, pattern) of transformers' per-layer `layer_types`: every N-th layer full, the others sliding."""
    full = [i for i, kind in enumerate(kinds) if kind == "full_attention"]
    if not full:
        return window, None  # every layer local
    if len(full) == len(kinds):
        return None, None
    n = full[0] + 1
    if kinds != ["full_attention" if (i + 1) % n == 0 else "sliding_attention" for i in range(len(kinds))]:
        raise InvalidSpec(f"{source}: layer_types", "only every N-th layer global, the others sliding, is modelled")
    return window, n


BUILDERS: dict[str, Callable[[Mapping[str, Any], str], dict[str, Any]]] = {
    "gated": _gated, "opt": _opt, "deepseek": _deepseek, "gemma": _gemma}
