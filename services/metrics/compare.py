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
)


def figure(summary: dict | None, path: tuple[str, ...]) -> float:
    value = summary
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def compare(summaries: list[dict | None]) -> list[tuple[str, list[float]]]:
    """One (figure, values per run) row per figure; NaN where a run has no such figure."""
    return [(name, [figure(s, path) for s in summaries]) for name, path in FIGURES]
