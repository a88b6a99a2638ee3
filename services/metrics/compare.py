"""Key figures of several runs side by side, read from their stored summaries."""

from __future__ import annotations

import math

# (row name, path into the summary); the unit is in the name's suffix.
FIGURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("load.offered_requests_per_s", ("load", "offered_requests_per_s")),
    ("load.sustainable_requests_per_s", ("load", "sustainable_requests_per_s")),
    ("load.load_factor", ("load", "load_factor")),
    ("requests.done", ("requests", "done")),
    ("requests.rejected", ("requests", "rejected")),
    ("makespan_s", ("makespan_s",)),
    *((f"{metric}.{stat}", (metric, stat)) for metric in ("ttft_s", "tpot_s", "e2e_s")
      for stat in ("mean", "p50", "p99")),
    ("throughput.output_tokens_per_s", ("throughput", "output_tokens_per_s")),
    ("throughput.requests_per_s", ("throughput", "requests_per_s")),
    ("slo.attained", ("slo", "attained")),
    ("hardware.hbm_bandwidth_util", ("hardware", "hbm_bandwidth_util")),
    ("hardware.mac_util", ("hardware", "mac_util")),
    ("hardware.kv_peak_occupancy", ("hardware", "kv_peak_occupancy")),
    ("hardware.preemptions", ("hardware", "preemptions")),
    # what a comparison of designs is for: energy, area and the rate each keeps its SLO at
    ("energy.j_per_output_token", ("energy", "j_per_output_token")),
    ("energy.output_tok_s_per_kw", ("energy", "output_tok_s_per_kw")),
    ("area.total_mm2", ("area", "total_mm2")),
    ("area.output_tok_s_per_mm2", ("area", "output_tok_s_per_mm2")),
    ("rate_search.goodput_rps", ("rate_search", "goodput_rps")),
)
COUNTS = {"requests.done", "requests.rejected", "hardware.preemptions"}  # shown as integers


def figure(summary: dict | None, path: tuple[str, ...]) -> float:
    value = summary
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def label(spec: dict | None) -> str:
    """A run's name by design: its `label` if it was given one, else e.g. "llama2-7b on dgx-h100, tp 8, pd 1:1"."""
    spec = spec or {}
    if spec.get("label"):
        return str(spec["label"])
    if not spec.get("model"):
        return ""
    servers = f"{spec['servers']}x " if spec.get("servers", 1) != 1 else ""
    words = [f"{spec['model']} on {servers}{spec.get('server')}", f"tp {spec.get('tp')}"]
    if (spec.get("pp") or 1) > 1:
        words.append(f"pp {spec['pp']}")
    if (spec.get("ep") or 1) > 1:
        words.append(f"ep {spec['ep']}")
    serving = spec.get("serving") or {}
    if serving.get("pd"):
        words.append(f"pd {serving['pd']}" + (f" (prefill on {serving['prefill_server']})"
                                              if serving.get("prefill_server") else ""))
    if (spec.get("weights"), spec.get("kv")) != ("fp16", "fp16"):
        words.append(f"{spec.get('weights')}/{spec.get('kv')}")
    if (spec.get("policy") or {}).get("rules"):
        words.append("adaptive KV")
    return ", ".join(words)


def labels(specs: list[dict | None], run_ids: list[str]) -> list[str]:
    """Column names for runs compared: labels by design; where two read alike, the hardware and serving fields
    they differ in (a search's trials: "chip.mac_trees=64, max_batch=32"), else the run id's prefix."""
    names = [label(s) or r[:12] for s, r in zip(specs, run_ids)]
    fields = [_fields(s) for s in specs]
    out = []
    for n, f in zip(names, fields):
        alike = [g for m, g in zip(names, fields) if m == n]
        keys = [k for k in dict.fromkeys(k for g in alike for k in g) if len({repr(g.get(k)) for g in alike}) > 1]
        out.append(f"{n}: {', '.join(f'{k}={_short(f.get(k))}' for k in keys)}" if len(alike) > 1 and keys else n)
    return [f"{n} ({r[:8]})" if out.count(n) > 1 else n for n, r in zip(out, run_ids)]


def _fields(spec: dict | None) -> dict:
    """A spec's hardware overrides and serving fields, flat: what tells a sweep's or a search's points apart."""
    spec = spec or {}
    return {**(spec.get("overrides") or {}), **(spec.get("serving") or {})}


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def compare(summaries: list[dict | None]) -> list[tuple[str, list[float]]]:
    """One (figure, values per run) row per figure; NaN where a run has no such figure."""
    return [(name, [figure(s, path) for s in summaries]) for name, path in FIGURES]
