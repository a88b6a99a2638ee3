"""The serving-architecture part of a run summary as a table (prefix cache, speculation, KV transfers)."""

from __future__ import annotations

from rich.table import Table

ROWS = {
    "prefix_cache": (("token_hit_rate", "token hit rate", "{:.1%}"), ("block_hit_rate", "block hit rate", "{:.1%}"),
                     ("prefill_tokens_saved", "prefill tokens saved", "{:,}"), ("evictions", "evictions", "{:,}"),
                     ("host_hit_tokens", "host-tier hit tokens", "{:,}")),
    "speculative": (("tokens_per_step", "tokens per step", "{:.3f}"),
                    ("expected_tokens_per_step", "expected (1-A^(K+1))/(1-A)", "{:.3f}"),
                    ("draft_time_share", "draft time share", "{:.1%}"), ("verify_time_share", "verify time share", "{:.1%}"),
                    ("tpot_gain_one_sequence", "TPOT gain, one sequence (est.)", "{:.2f}x")),
    "disaggregation": (("kv_gb_moved", "KV moved (GB)", "{:,.1f}"), ("transfer_mean_s", "transfer mean (s)", "{:.4f}"),
                       ("transfer_p99_s", "transfer p99 (s)", "{:.4f}"), ("hidden_share", "hidden behind prefill", "{:.1%}"),
                       ("wait_for_room_mean_s", "wait for decode KV room (s)", "{:.4f}")),
}


def architecture_table(summary: dict) -> Table | None:
    arch = summary.get("architecture") or {}
    if set(arch) <= {"deployment"}:
        return None
    t = Table(title=f"Serving architecture: {arch.get('deployment', '')}", title_justify="left")
    t.add_column("mechanism")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for section, rows in ROWS.items():
        for key, label, fmt in rows:
            value = arch.get(section, {}).get(key)
            if value is not None:
                t.add_row(section.replace("_", " "), label, fmt.format(value))
    return t
