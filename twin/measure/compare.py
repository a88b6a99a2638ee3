"""The twin's predictions for a measured workload, and how far they are from the measurements.

The workload is replayed as measured (same arrivals, prompt and output lengths) on a twin
given by a ``RunSpec``; each request's predicted TTFT, TPOT and end-to-end latency is set
beside its measurement. ``report`` gives per metric the mean, p50, p90 and p99 of both and
their relative error, the throughput of both, and the distribution of per-request errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.measure.records import Measurement
from twin.replay import RunSpec, replay

METRICS = ("ttft", "tpot", "e2e")
STATS = ("mean", "p50", "p90", "p99")


@dataclass(frozen=True)
class Pair:
    """One request: measured and predicted (None where the twin did not serve it)."""

    request_id: int
    measured: dict[str, float | None]
    predicted: dict[str, float | None]
    arrival_s: float
    output_tokens: int


def predict(spec: RunSpec, measurement: Measurement) -> list[Pair]:
    """Replay the measured workload on the twin of `spec`; one Pair per measured request."""
    sim = spec.build()
    result = replay(sim, measurement.workload())
    if result.status != "complete":
        from twin.errors import TwinError
        raise TwinError(f"the twin's replay of {measurement.path} {result.status}: {result.error}")
    records = {r.request_id: r for r in sim.recorder.requests}
    pairs = []
    for m in measurement.requests:
        rec = records.get(m.request_id)
        done = rec is not None and rec.state == "done"
        predicted = {"ttft": rec.ttft_s, "tpot": rec.tpot_s, "e2e": rec.e2e_s} if done else dict.fromkeys(METRICS)
        pairs.append(Pair(m.request_id, {"ttft": m.ttft_s, "tpot": m.tpot_s, "e2e": m.e2e_s}, predicted,
                          m.arrival_s, m.output_tokens))
    return pairs


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return dict.fromkeys(STATS)
    arr = np.asarray(values)
    return {"mean": float(arr.mean()), "p50": float(np.percentile(arr, 50)), "p90": float(np.percentile(arr, 90)),
            "p99": float(np.percentile(arr, 99))}


def _rel(pred: float | None, meas: float | None) -> float | None:
    if pred is None or meas is None or meas <= 0:
        return None
    return (pred - meas) / meas


def metric_report(pairs: list[Pair], metric: str) -> dict:
    """Measured and predicted statistics of one metric over the requests both have, and the errors."""
    both = [p for p in pairs if p.measured[metric] is not None and p.predicted[metric] is not None]
    measured = _stats([p.measured[metric] for p in both])
    predicted = _stats([p.predicted[metric] for p in both])
    errors = {k: _rel(predicted[k], measured[k]) for k in STATS}
    per_request = [e for p in both if (e := _rel(p.predicted[metric], p.measured[metric])) is not None]
    return {"requests": len(both), "measured": measured, "predicted": predicted, "error": errors,
            "per_request_error": per_request_distribution(per_request)}


def per_request_distribution(errors: list[float]) -> dict[str, float | None]:
    """Signed relative errors (predicted - measured) / measured: percentiles and mean absolute."""
    if not errors:
        return {"p10": None, "p50": None, "p90": None, "mean_abs": None, "within_10pct": None}
    arr = np.asarray(errors)
    return {"p10": float(np.percentile(arr, 10)), "p50": float(np.percentile(arr, 50)),
            "p90": float(np.percentile(arr, 90)), "mean_abs": float(np.abs(arr).mean()),
            "within_10pct": float((np.abs(arr) <= 0.10).mean())}


def throughput(pairs: list[Pair], side: str) -> float | None:
    """Output tokens per second over the span from the first arrival to the last finish."""
    finished = [p for p in pairs if getattr(p, side)["e2e"] is not None]
    if not finished:
        return None
    span = max(p.arrival_s + getattr(p, side)["e2e"] for p in finished) - min(p.arrival_s for p in pairs)
    return sum(p.output_tokens for p in finished) / span if span > 0 else None


def report(pairs: list[Pair]) -> dict:
    """Every metric's report, throughput of both, and how many requests the twin did not serve."""
    out = {m: metric_report(pairs, m) for m in METRICS}
    measured, predicted = throughput(pairs, "measured"), throughput(pairs, "predicted")
    out["throughput_output_tokens_per_s"] = {"measured": measured, "predicted": predicted,
                                             "error": _rel(predicted, measured)}
    out["requests"] = len(pairs)
    out["not_served_by_twin"] = sum(p.predicted["e2e"] is None for p in pairs)
    return out


def per_request(pairs: list[Pair]) -> dict[str, dict[str, list[float | None]]]:
    """Each metric's measured and predicted value per request, in the measurement's order (None where
    not measured or not served): what a report draws the two distributions from."""
    return {m: {"measured": [p.measured[m] for p in pairs], "predicted": [p.predicted[m] for p in pairs]}
            for m in METRICS}

