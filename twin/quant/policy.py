"""Quantization policies from YAML: static, per layer, or adaptive during the run.

    weights: fp16            # fp16 | int8 | int4
    kv: fp16                 # the KV scheme at the start
    layers:                  # optional per-layer KV schemes, first match wins
      - {first: 0, last: 1, kv: fp16}
      - {first: 2, last: 31, kv: oaken}
    rules:                   # optional, checked at every batch change, first match wins
      - {when: kv_occupancy, above: 0.8, kv: oaken}
      - {when: queue_length, above: 64, kv: oaken}
    serving:                 # optional serving-architecture options (twin.config.ServingConfig fields)
      pd: "1:1"
      prefix_cache: lru
      speculative: 4
      draft_model: llama2-7b

A rule switches the KV scheme used for newly written tokens; what is already stored
keeps its format. When no rule matches, the starting scheme comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from twin import textfile, yamltext
from twin.errors import InvalidSpec, quote
from twin.quant.schemes import QuantPolicy, kv_scheme, weight_scheme

METRICS = ("kv_occupancy", "queue_length")


@dataclass(frozen=True)
class SwitchRule:
    metric: str  # kv_occupancy (0..1) | queue_length (requests)
    above: float
    kv: str

    def matches(self, metrics: dict[str, float]) -> bool:
        return metrics[self.metric] > self.above


@dataclass(frozen=True)
class PolicySpec:
    weights: str = "fp16"
    kv: str = "fp16"
    layers: tuple[tuple[int, int, str], ...] = ()
    rules: tuple[SwitchRule, ...] = ()
    serving: tuple[tuple[str, object], ...] = ()  # ServingConfig fields the file sets

    def policy(self, n_layers: int, kv: str | None = None) -> QuantPolicy:
        """The QuantPolicy for a model of `n_layers` layers (optionally with another default KV)."""
        base = QuantPolicy.named(self.weights, kv or self.kv)
        if not self.layers:
            return base
        per_layer = [base.kv] * n_layers
        for i, (first, last, name) in enumerate(self.layers):
            if last >= n_layers:
                raise InvalidSpec(f"layers[{i}].last", f"{last} is past the model's {n_layers} layers")
            per_layer[first:last + 1] = [kv_scheme(name)] * (last - first + 1)
        return QuantPolicy(base.weights, base.kv, tuple(per_layer))

    def to_dict(self) -> dict:
        return {"weights": self.weights, "kv": self.kv,
                "layers": [{"first": f, "last": la, "kv": k} for f, la, k in self.layers],
                "rules": [{"when": r.metric, "above": r.above, "kv": r.kv} for r in self.rules],
                "serving": dict(self.serving)}


def policy_from_dict(data: dict) -> PolicySpec:
    if not isinstance(data, dict):
        raise InvalidSpec("policy", "must be a mapping with weights, kv, layers, rules")
    unknown = set(data) - {"weights", "kv", "layers", "rules", "serving"}
    if unknown:
        raise InvalidSpec(f"policy.{sorted(unknown)[0]}", "unknown key (known: weights, kv, layers, rules, serving)")
    weights, kv = str(data.get("weights", "fp16")), str(data.get("kv", "fp16"))
    weight_scheme(weights), kv_scheme(kv)  # UnknownName for a misspelt scheme
    layers = tuple(_layer(i, x) for i, x in enumerate(data.get("layers") or ()))
    rules = tuple(_rule(i, x) for i, x in enumerate(data.get("rules") or ()))
    return PolicySpec(weights, kv, layers, rules, _serving(data.get("serving") or {}))


def _serving(data: dict) -> tuple[tuple[str, object], ...]:
    """The `serving:` section, checked field by field against ServingConfig (errors name policy.serving.X)."""
    from twin.config import ARCHITECTURE_FIELDS, ServingConfig
    if not isinstance(data, dict):
        raise InvalidSpec("policy.serving", "must be a mapping of serving options")
    for key in data:
        if key not in ARCHITECTURE_FIELDS:
            raise InvalidSpec(f"policy.serving.{key}", f"not a serving option a policy sets (those are: "
                                                       f"{', '.join(sorted(ARCHITECTURE_FIELDS))})")
    try:
        ServingConfig(**data)
    except InvalidSpec as exc:
        raise InvalidSpec(f"policy.serving.{exc.field}", exc.message) from None
    except TypeError as exc:
        raise InvalidSpec("policy.serving", str(exc)) from None
    return tuple(sorted(data.items()))


MAX_POLICY_BYTES = 256 * 1024  # a policy is a few lines, like a catalogue entry


def load_policy(path: str | Path) -> PolicySpec:
    text = textfile.read_text(path, MAX_POLICY_BYTES, f"policy {path}")
    return policy_from_dict(yamltext.load(text, f"policy {path}"))  # no aliases: bounded once loaded


def _layer(i: int, x: dict) -> tuple[int, int, str]:
    try:
        first, last, name = int(x["first"]), int(x["last"]), str(x["kv"])
    except (KeyError, TypeError, ValueError):
        raise InvalidSpec(f"layers[{i}]", "needs integer first, last and a kv scheme name") from None
    if not 0 <= first <= last:
        raise InvalidSpec(f"layers[{i}]", f"needs 0 <= first <= last, got {first}..{last}")
    kv_scheme(name)
    return first, last, name


def _rule(i: int, x: dict) -> SwitchRule:
    try:
        metric, above, name = str(x["when"]), float(x["above"]), str(x["kv"])
    except (KeyError, TypeError, ValueError):
        raise InvalidSpec(f"rules[{i}]", "needs when (kv_occupancy|queue_length), above (number) and kv") from None
    if metric not in METRICS:
        raise InvalidSpec(f"rules[{i}].when", f"must be one of {', '.join(METRICS)}, got {quote(metric)}")
    if metric == "kv_occupancy" and not 0 <= above < 1:
        raise InvalidSpec(f"rules[{i}].above", "a KV occupancy threshold is a fraction in [0, 1)")
    kv_scheme(name)
    return SwitchRule(metric, above, name)
