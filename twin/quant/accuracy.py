"""Published accuracy of 4-bit KV-cache schemes, as data (Oaken, ISCA'25, Table 2).

The twin does not predict perplexity: it looks up what the Oaken paper measured
(Wikitext2 perplexity for eight models, zero-shot accuracy for Oaken on Llama2) and
reports the change against FP16. Anything not in the paper's table comes back as
None with a reason; no number is ever made up or interpolated. Every baseline in the
table ran with 4-bit KV only (paper section 6.1).
"""

from __future__ import annotations

import math

SOURCE = "Oaken (ISCA'25, arXiv:2503.18599v2) Table 2"
MODELS = ("llama2-7b", "llama2-13b", "llama2-70b", "opt-6.7b", "opt-13b", "opt-30b", "mistral-7b", "mixtral-8x7b")

# Wikitext2 perplexity, in MODELS order. NaN is what the paper printed (Tender diverged).
_PPL_ROWS = {
    "fp16": (5.47, 4.88, 3.32, 10.86, 10.13, 9.56, 5.25, 3.84),
    "kvquant": (5.49, 4.94, 3.33, 10.88, 10.14, 9.58, 5.33, 3.87),
    "kivi": (5.50, 4.90, 3.33, 10.88, 10.16, 9.58, 5.34, 3.84),
    "tender": (6.42, 5.74, 4.25, 11.80, 11.05, 10.44, 5.54, math.nan),
    "atom": (5.62, 4.98, 3.37, 11.01, 10.22, 9.64, 5.42, 4.05),
    "qserve": (5.67, 5.12, 3.36, 10.95, 10.28, 9.62, 5.42, 4.03),
    "oaken": (5.53, 4.93, 3.34, 10.88, 10.16, 9.58, 5.35, 3.90),
}
WIKITEXT2_PPL: dict[str, dict[str, float]] = {row: dict(zip(MODELS, vals)) for row, vals in _PPL_ROWS.items()}

# Zero-shot accuracy (%), Llama2 7B / 13B / 70B, FP16 and Oaken only.
_LLAMA2 = ("llama2-7b", "llama2-13b", "llama2-70b")
_ZERO_SHOT_ROWS = {
    "piqa": {"fp16": (79.05, 80.52, 82.70), "oaken": (78.29, 79.71, 82.59)},
    "winogrande": {"fp16": (69.13, 72.80, 80.20), "oaken": (67.64, 70.56, 76.64)},
    "hellaswag": {"fp16": (75.98, 79.38, 83.82), "oaken": (73.72, 78.24, 83.50)},
}
ZERO_SHOT_ACC: dict[str, dict[str, dict[str, float]]] = {
    task: {row: dict(zip(_LLAMA2, vals)) for row, vals in rows.items()} for task, rows in _ZERO_SHOT_ROWS.items()
}

# Effective KV bits the paper lists for Llama2 7B / 13B / 70B (artifact settings).
_BITS_ROWS = {
    "kivi": (4.99, 4.99, 4.99),
    "kvquant": (4.82, 4.81, 5.01),
    "qserve": (4.25, 4.25, 4.25),
    "tender": (4.07, 4.07, 4.10),
    "atom": (4.25, 4.25, 4.63),
    "oaken": (4.82, 4.82, 4.89),
}
PUBLISHED_EFFECTIVE_BITS = {row: dict(zip(_LLAMA2, vals)) for row, vals in _BITS_ROWS.items()}

# KV scheme names the twin uses (twin.quant.schemes / twin.quant.algos) -> table row.
# Only 4-bit variants map: the table measured every method at KV4.
ROW_OF_SCHEME = {
    "fp16": "fp16",
    "kvquant": "kvquant", "kvquant4": "kvquant",
    "kivi": "kivi", "kivi4": "kivi",
    "tender": "tender", "tender4": "tender",
    "atom": "atom", "atom4": "atom",
    "qserve": "qserve", "qserve4": "qserve",
    "oaken": "oaken",
}


def missing_reason(kv_scheme_name: str, model_name: str) -> str | None:
    """Why there is no published number for this pair, or None when there is one."""
    if kv_scheme_name not in ROW_OF_SCHEME:
        return (f"KV scheme {kv_scheme_name!r} is not in {SOURCE}, which measured 4-bit KV only "
                f"({', '.join(sorted(ROW_OF_SCHEME))})")
    if model_name not in MODELS:
        return f"model {model_name!r} is not in {SOURCE} (models: {', '.join(MODELS)})"
    if math.isnan(WIKITEXT2_PPL[ROW_OF_SCHEME[kv_scheme_name]][model_name]):
        return f"{SOURCE} prints NaN perplexity for {kv_scheme_name} on {model_name} (the run diverged)"
    return None


def _zero_shot(row: str, model: str) -> dict[str, dict[str, float]]:
    """Zero-shot accuracy with its change against FP16, where the paper has it."""
    out = {}
    for task, rows in ZERO_SHOT_ACC.items():
        if row in rows and model in rows[row]:
            acc, base = rows[row][model], rows["fp16"][model]
            out[task] = {"accuracy_pct": acc, "fp16_accuracy_pct": base, "delta_pct": round(acc - base, 2)}
    return out


def expected_accuracy(kv_scheme_name: str, model_name: str) -> dict | None:
    """Published accuracy of a KV scheme on a model and its change against FP16, or None.

    None means the paper has no number for the pair; `missing_reason` says why.
    """
    if missing_reason(kv_scheme_name, model_name) is not None:
        return None
    row = ROW_OF_SCHEME[kv_scheme_name]
    ppl, base = WIKITEXT2_PPL[row][model_name], WIKITEXT2_PPL["fp16"][model_name]
    return {
        "source": SOURCE,
        "kv_scheme": kv_scheme_name,
        "table_row": row,
        "model": model_name,
        "wikitext2_ppl": ppl,
        "fp16_wikitext2_ppl": base,
        "delta_ppl": round(ppl - base, 2),
        "zero_shot": _zero_shot(row, model_name),
        "published_effective_bits": PUBLISHED_EFFECTIVE_BITS.get(row, {}).get(model_name),
    }
