"""Human-readable views of summaries, runs, traces and the catalogue (rich tables)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _ms(v: float | None) -> str:
    return "-" if v is None else (f"{v * 1e3:,.1f} ms" if v < 10 else f"{v:,.1f} s")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f} %"


def latency_table(summary: dict) -> Table:
    t = Table(title="Latency", title_justify="left")
    for col in ("metric", "mean", "p50", "p90", "p99"):
        t.add_column(col, justify="right" if col != "metric" else "left")
    for key, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("e2e_s", "end-to-end")):
        d = summary[key]
        t.add_row(label, *(_ms(d[k]) for k in ("mean", "p50", "p90", "p99")))
    return t


def overview_table(summary: dict) -> Table:
    tw, th, hw, rq = summary["twin"], summary["throughput"], summary["hardware"], summary["requests"]
    t = Table(title="Run", title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    rows = [
        ("twin", f"{tw['model']} on {tw['servers']}x {tw['server']} ({tw['chip']}), tp={tw['tp']} "
                 f"({tw['topology']}), {tw['replicas']} replica(s), {tw['policy']}, {tw['fidelity']} fidelity"),
        ("status", summary["status"]),
        ("requests", f"{rq['done']:,} done / {rq['submitted']:,} submitted, {rq['rejected']:,} rejected, "
                     f"{rq['preempted']:,} preempted"),
        ("throughput", f"{th['output_tokens_per_s']:,.1f} output tok/s, {th['requests_per_s']:.3f} req/s "
                       f"over {summary['makespan_s']:,.1f} s simulated"),
        ("SLO attainment", _slo(summary["slo"])),
        ("HBM bandwidth", f"{_pct(hw['hbm_bandwidth_util'])} of peak (sustained efficiency "
                          f"{hw['memory_efficiency']:.3f}, calibrated)"),
        ("MAC utilisation", f"{_pct(hw['mac_util'])} of peak over the run; {_pct(hw.get('prefill_mac_util'))} "
                            f"while prefilling (engines: prefill on {hw.get('prefill_engine', '-')}, "
                            f"decode on {hw.get('decode_engine', '-')})"),
        ("bottleneck", f"{hw['bound_by']}, replicas busy {_pct(hw['replica_busy'])} of the time"),
        ("ESL", f"busy {hw['esl_busy_s']:,.2f} s per chip, exposed {hw['esl_exposed_s']:,.2f} s"),
        ("KV cache", f"peak {_pct(hw['kv_peak_occupancy'])} of {hw['kv_capacity_tokens']:,} tokens"),
        ("preemptions", f"{hw['preemptions']:,} (swapped {hw['swap_gb']:.2f} GB)"),
    ]
    rows += _energy_rows(summary.get("energy"), summary.get("area"))
    for k, v in rows:
        t.add_row(k, v)
    return t


def _energy_rows(energy: dict | None, area: dict | None) -> list[tuple[str, str]]:
    rows = []
    if energy:
        per_token = energy["j_per_output_token"]
        rows.append(("power", f"{energy['avg_power_w']:,.0f} W average, {energy['peak_power_w']:,.0f} W peak, "
                              f"{energy['static_power_w']:,.0f} W static floor (chips, memory, hosts)"))
        rows.append(("energy", f"{energy['energy_j'] / 3.6e6:,.3f} kWh, "
                               f"{'-' if per_token is None else f'{per_token:.3f}'} J per output token, "
                               f"{energy['output_tok_s_per_kw'] or 0:,.0f} output tok/s per kW"))
    if area and area.get("total_mm2"):
        rows.append(("compute die area", f"{area['total_mm2']:,.1f} mm² ({area['chips']} x "
                                         f"{area['die_mm2_per_chip']:,.3f} mm², {area['source']}), "
                                         f"{area['output_tok_s_per_mm2']:,.2f} output tok/s per mm²"))
    return rows


def _slo(slo: dict) -> str:
    if slo["attained"] is None:
        return "- (set --slo-ttft / --slo-tpot)"
    return f"{_pct(slo['attained'])} (TTFT <= {_ms(slo['ttft_s'])}, TPOT <= {_ms(slo['tpot_s'])})"


def print_summary(console: Console, summary: dict) -> None:
    console.print(overview_table(summary))
    console.print(latency_table(summary))
    from services.render_arch import architecture_table
    if (arch := architecture_table(summary)) is not None:
        console.print(arch)


def stats_table(name: str, stats: dict) -> Table:
    t = Table(title=f"Trace {name}", title_justify="left")
    t.add_column("field")
    t.add_column("value", justify="right")
    for k, v in stats.items():
        if isinstance(v, dict):
            v = "  ".join(f"{kk}={vv:,.1f}" if isinstance(vv, float) else f"{kk}={vv}" for kk, vv in v.items())
        elif isinstance(v, float):
            v = f"{v:,.4f}"
        t.add_row(k, str(v))
    return t


def runs_table(runs) -> Table:
    t = Table(title="Runs", title_justify="left")
    for col in ("id", "created", "status", "kind", "trace", "requests"):
        t.add_column(col)
    for r in runs:
        t.add_row(r.id, f"{r.created_at:%Y-%m-%d %H:%M:%S}", r.status, r.kind, r.trace, f"{r.requests_recorded:,}")
    return t


def catalog_table(kind: str, catalog=None) -> Table:
    from twin.catalog import default_catalog
    catalog = catalog or default_catalog()
    t = Table(title=kind, title_justify="left")
    t.add_column("name")
    t.add_column("source")
    t.add_column("details")
    load = {"chips": catalog.chip, "links": catalog.link, "servers": catalog.server, "models": catalog.model}[kind]
    for name in catalog.names(kind):
        entry = catalog.entry(kind, name)
        t.add_row(name, "package" if entry.package else entry.source, _describe(load(name)))
    return t


def _engine_words(e) -> str:
    shape = {"mac-tree": lambda: f"{e.trees}x{e.lanes} MAC trees", "systolic": lambda: f"{e.rows}x{e.cols} systolic",
             "tensor-core": lambda: f"{e.units} SMs"}[e.type]()
    return f"{shape} @ {e.clock_ghz} GHz"


def _describe(spec) -> str:
    from twin.config import ChipSpec, ModelSpec, ServerSpec
    if isinstance(spec, ChipSpec):
        m = spec.memory
        engines = " + ".join(_engine_words(e) for e in spec.compute_engines)
        return (f"{spec.kind}, {engines} ({spec.peak_tflops:.1f} TFLOPS), "
                f"{m.capacity_bytes / 1e9:.0f} GB {m.kind} at {m.peak_bytes_per_s / 1e12:.2f} TB/s")
    if isinstance(spec, ServerSpec):
        return f"{spec.chips}x {spec.chip.name}, ESL {spec.link.name}, host {spec.host.cpu}"
    if isinstance(spec, ModelSpec):
        extra = f", {spec.experts} experts top-{spec.experts_top_k}" if spec.experts > 1 else ""
        return (f"{spec.params / 1e9:.2f} B params, {spec.layers} layers, hidden {spec.hidden}, "
                f"{spec.heads}/{spec.kv_heads} heads, ctx {spec.max_context}{extra}")
    return getattr(spec, "description", "")
