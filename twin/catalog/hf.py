"""A model entry from a Hugging Face ``config.json`` (Llama, Mistral, Mixtral, OPT, Qwen2 shapes).

Only the architecture is read (layers, widths, heads, experts, context, window, tying); the
result is validated as a ModelSpec, so a config the twin cannot model is refused with the key.
"""

from __future__ import annotations

from typing import Any, Mapping

from twin.catalog.index import valid_name
from twin.config import ModelSpec, build_spec
from twin.errors import InvalidSpec

MAX_CONFIG_BYTES = 1024 * 1024
GATED = {"llama": "llama", "mistral": "mistral", "mixtral": "mixtral", "qwen2": "qwen2", "qwen2_moe": "qwen2"}
FAMILIES = (*GATED, "opt")


def _get(cfg: Mapping[str, Any], source: str, *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in cfg and cfg[key] is not None:
            return cfg[key]
    if default is None:
        raise InvalidSpec(f"{source}: {keys[0]}", "is missing")
    return default


def model_from_hf_config(cfg: Any, name: str, source: str) -> dict[str, Any]:
    """The catalogue YAML fields (as a dict) of the model `cfg` describes."""
    if not valid_name(name):
        raise InvalidSpec("--name", "must be an identifier (letters, digits, '.', '-', '_'; no '..')")
    if not isinstance(cfg, Mapping):
        raise InvalidSpec(source, "must be a JSON object")
    family = cfg.get("model_type")
    if family not in FAMILIES:
        raise InvalidSpec(f"{source}: model_type", f"{str(family)[:40]!r} is not one of {', '.join(FAMILIES)}")
    heads = _get(cfg, source, "num_attention_heads")
    experts = _get(cfg, source, "num_local_experts", "num_experts", default=1)
    if not (isinstance(experts, int) and not isinstance(experts, bool)):  # compared below, before the spec checks
        raise InvalidSpec(f"{source}: num_local_experts", f"must be a whole number, got {type(experts).__name__}")
    window = cfg.get("sliding_window") if cfg.get("use_sliding_window", True) else None
    data = {
        "name": name, "family": family, "layers": _get(cfg, source, "num_hidden_layers"),
        "hidden": _get(cfg, source, "hidden_size"), "heads": heads,
        "kv_heads": _get(cfg, source, "num_key_value_heads", default=heads),
        "ffn": _get(cfg, source, "ffn_dim", "moe_intermediate_size" if experts > 1 else "intermediate_size",
                    "intermediate_size"),
        "vocab": _get(cfg, source, "vocab_size"), "max_context": _get(cfg, source, "max_position_embeddings"),
        "ffn_matrices": 2 if family == "opt" else 3, "experts": experts,
        "experts_top_k": _get(cfg, source, "num_experts_per_tok", default=1) if experts > 1 else 1,
        "sliding_window": window, "tied_embeddings": bool(cfg.get("tie_word_embeddings", family == "opt")),
        "learned_positions": family == "opt", "published_params_b": 0.0,
        "description": f"imported from a Hugging Face config.json ({family})",
    }
    try:
        spec = build_spec(ModelSpec, data, "config")  # types too: `sliding_window: "abc"` is refused, never written
    except InvalidSpec as exc:
        raise InvalidSpec(f"{source}: {exc.field.removeprefix('config.')}", exc.message) from None
    data["published_params_b"] = round(spec.params / 1e9, 3)  # what the dimensions give (no published figure)
    return data
