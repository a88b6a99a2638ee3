"""What the KV cache was stored in over a run whose policy changed: shares, bits and accuracy, truthfully.

A policy can change during a run (an adaptive rule of a policy file, or SetPolicy on a live twin);
each replica records every change with its time, the tokens written before it and its cause. From
those, per KV scheme:

- the share of the run's replica-time it was in force (time-weighted), and
- the share of the tokens whose KV it stored (token-weighted: prompt and output tokens written while
  it was in force; a scheme change applies to tokens written from then on),

and the effective KV bits per element weighted both ways. The accuracy cost is the published change
of each scheme (twin.quant.accuracy) weighted by its token share: a first-order blend of measured
figures, labelled as such, not a prediction of perplexity.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from twin.quant.accuracy import expected_accuracy, missing_reason

MAX_SWITCHES_LISTED = 1000  # a long adaptive run can switch thousands of times; all are counted


def _intervals(replica, end_s: float) -> list[tuple[object, float, int]]:
    """(policy, seconds in force, tokens written) of each stretch between the replica's changes of policy."""
    tokens_end = replica.stats.prefill_tokens + replica.stats.decode_tokens
    out, policy, since_s, since_tokens = [], replica.kv_policy.first, 0.0, 0
    for t, _old, new, tokens, _cause in replica.kv_policy.switches:
        out.append((policy, t - since_s, tokens - since_tokens))
        policy, since_s, since_tokens = new, t, tokens
    out.append((policy, max(end_s - since_s, 0.0), tokens_end - since_tokens))
    return out


def _shares(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()} if total > 0 else {k: 0.0 for k in weights}


def kv_report(replicas: Sequence, model, end_s: float) -> dict:
    """The quant section's account of the KV schemes used by `replicas` (twin.serving.engine.Replica)."""
    n = model.kv_dim
    seconds: dict[str, float] = defaultdict(float)
    tokens: dict[str, float] = defaultdict(float)
    bits: dict[str, float] = {}
    schemes: dict[str, list[str]] = {}
    for rep in replicas:
        for policy, span_s, written in _intervals(rep, end_s):
            label = policy.label
            seconds[label] += span_s
            tokens[label] += written
            bits[label] = policy.kv_mean(lambda s: s.bits_per_elem(n))
            schemes[label] = sorted({s.name for s in (policy.layer_kv or (policy.kv,))})
    time_share, token_share = _shares(seconds), _shares(tokens)
    first = bits[replicas[0].kv_policy.first.label]
    return {"kv_bits_per_elem": _weighted(token_share, bits, first),
            "kv_bits_time_weighted": _weighted(time_share, bits, first),
            "kv_bits_by_policy": bits, "kv_token_share": token_share, "kv_time_share": time_share,
            "kv_schemes": sorted({name for names in schemes.values() for name in names}),
            **_accuracy(schemes, token_share, model.name)}


def _weighted(share: dict[str, float], bits: dict[str, float], otherwise: float) -> float:
    """Bits weighted by `share`; `otherwise` (the first policy's) when nothing was weighed (an empty run)."""
    if not any(share.values()):
        return otherwise
    return sum(share[k] * bits[k] for k in share)


def _accuracy(schemes: dict[str, list[str]], token_share: dict[str, float], model_name: str) -> dict:
    """Published accuracy per scheme used, and the change in Wikitext2 perplexity weighted by token share
    (None when a scheme that stored tokens has no published figure for this model)."""
    names = sorted({name for names in schemes.values() for name in names if name != "fp16"})
    accuracy = {name: expected_accuracy(name, model_name) or {"unknown": missing_reason(name, model_name)}
                for name in names}
    delta = 0.0
    for label, share in token_share.items():
        per_layer = [accuracy[name].get("delta_ppl") if name != "fp16" else 0.0 for name in schemes[label]]
        if share > 0 and any(d is None for d in per_layer):
            delta = None
            break
        if share > 0:
            delta += share * sum(per_layer) / len(per_layer)  # a per-layer mix: its layers' mean, first order
    return {"expected_accuracy": accuracy,
            "token_weighted_delta_ppl": None if delta is None else round(delta, 4),
            "token_weighted_delta_ppl_note": "published per-scheme Wikitext2 changes weighted by the share of "
                                             "tokens each scheme stored (first order, not a prediction)"}


def switch_list(replicas: Sequence) -> tuple[list[dict], int]:
    """Every change of policy in time order (up to MAX_SWITCHES_LISTED) and how many there were."""
    switches = sorted(((t, rep.index, old.label, new.label, cause) for rep in replicas
                       for t, old, new, _tokens, cause in rep.kv_policy.switches))
    listed = [{"t_s": t, "replica": i, "from": a, "to": b, "cause": c}
              for t, i, a, b, c in switches[:MAX_SWITCHES_LISTED]]
    return listed, len(switches)
