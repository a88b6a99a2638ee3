"""The human view of a run's summary: the load verdict first, then requests, throughput, hardware,
quantization, energy and latency. Every key of the summary dict is shown somewhere: what the
sections below do not name goes to a final "more" table, so the JSON never says more than the
terminal.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

SHOWN_ELSEWHERE = {"status", "makespan_s"}


def time_unit(values) -> tuple[float, str]:
    """One unit for a whole row: ms when every value is under 10 s, else s."""
    present = [v for v in values if v is not None]
    return (1e3, "ms") if present and max(present) < 10 else (1.0, "s")


def _num(v, fmt: str = ",.2f") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return f"{v:,}" if isinstance(v, int) else format(v, fmt)


def _pct(v) -> str:
    return "-" if v is None else f"{v * 100:.1f} %"


def load_lines(load: dict, summary: dict | None = None) -> list[str]:
    """Offered load against the sustainable rate, what saturates, and the next step: the summary's first lines."""
    word = load["verdict"]
    colour = {"OVERLOADED": "bold red", "near capacity": "bold yellow"}.get(word, "bold green")
    offered = load["offered_requests_per_s"]
    why = {"OVERLOADED": f" ({_queueing(summary or {}, load)})",
           "near capacity": " (queueing shows in the TTFT tail)"}.get(word, "")
    head = (f"offered load {_num(offered)} req/s ({_num(load['offered_tokens_per_s'], ',.0f')} prompt + output "
            f"tok/s) vs sustainable ≈{_num(load['sustainable_requests_per_s'])} req/s "
            f"({_num(load['sustainable_tokens_per_s'], ',.0f')} tok/s) on this cluster: [{colour}]{word}[/]{why}")
    if offered is None:
        head = f"all requests arrive at once; sustainable ≈{_num(load['sustainable_requests_per_s'])} req/s"
    detail = (f"  load factor {_num(load['load_factor'])}; saturates: {load['saturates']}; steady decode batch "
              f"{load['batch']} per replica (limited by {load['batch_limited_by']}); mean request "
              f"{_num(load['mean_input_tokens'], ',.0f')} prompt + {_num(load['mean_output_tokens'], ',.0f')} "
              f"output tokens; one prefill {_num(load['prefill_s'] * 1e3, ',.1f')} ms, one full decode step "
              f"{_num(load['decode_step_s'] * 1e3, ',.1f')} ms")
    return [head, detail, *next_step_lines(load, summary or {})]


def _queueing(summary: dict, load: dict) -> str:
    """What the overload did in this run, from its own figures, not a general claim."""
    p50 = (summary.get("ttft_s") or {}).get("p50")
    if p50 is None:
        return "arrivals outpace what the cluster sustains"
    return (f"arrivals outpace what the cluster sustains: median TTFT {_num(p50)} s against "
            f"{_num(load['prefill_s'] * 1e3, ',.1f')} ms of prefill, the rest is queueing")


def next_step_lines(load: dict, summary: dict) -> list[str]:
    """The next step the capacity model and the request counts point to, as options to pass."""
    lines = []
    step = load.get("next_step")
    if step:
        lines.append(f"  next step: --servers {step['servers']} ({step['replicas']} replicas, load factor "
                     f"{step['load_factor_then']:.2f}) or --rate {step['rate_rps']:.3g} on this cluster")
    rq = summary.get("requests") or {}
    if rq.get("too_long_rejected"):
        lines.append(f"  {rq['too_long_rejected']:,} requests were longer than the {rq.get('max_context', 0):,}-token "
                     "context and rejected: --max-context N serves them (past the model's trained context, with a "
                     "warning), --on-long-request clamp cuts them, or use a model with a longer context")
    return lines


def request_rows(summary: dict) -> list[tuple[str, str]]:
    """Counts of what happened to requests, including those the twin changed or dropped."""
    rq, tr = dict(summary["requests"]), dict(summary.get("trace", {}))
    done, submitted = rq.pop("done"), rq.pop("submitted", rq.get("total"))
    rq.pop("total", None)
    parts = [f"{done:,} done / {submitted:,} submitted"] + [
        f"{v:,} {k.replace('_', ' ')}" if isinstance(v, int) else f"{k.replace('_', ' ')} {v}" for k, v in rq.items()]
    rows = [("requests", ", ".join(parts))]
    if tr:
        changed = [f"{v:,} {k.replace('_', ' ')}" for k, v in tr.items() if k not in ("name", "format", "requests")]
        rows.append(("trace", f"{tr.get('name')} ({tr.get('format')}, {tr.get('requests', 0):,} requests): "
                              + (", ".join(changed) or "none changed")))
    return rows


THROUGHPUT_LABELS = {"output_tokens_per_s": ("output tok/s", ",.1f"), "input_tokens_per_s": ("prompt tok/s", ",.1f"),
                     "requests_per_s": ("req/s", ",.3f"), "output_tokens": ("output tokens", ",")}


def throughput_row(summary: dict) -> str:
    """End-to-end rates over the makespan, and any other rate the summary has (e.g. decode-only)."""
    parts = []
    for key, value in summary["throughput"].items():
        label, fmt = THROUGHPUT_LABELS.get(key, (key.replace("_per_s", "/s").replace("_", " "), ",.1f"))
        parts.append(f"{_num(value, fmt)} {label}")
    return f"end-to-end over {_num(summary['makespan_s'], ',.1f')} s simulated: " + ", ".join(parts)


def memory_kind(chip: str) -> str:
    """The chip's memory technology (HBM3, LPDDR5X, ...) from the catalogue, for row labels."""
    from twin import catalog
    try:
        return catalog.load_chip(chip).memory.kind.upper()
    except Exception:  # a chip no longer in the catalogue: still show the figures
        return "memory"


def _weights(hw: dict) -> str:
    share = hw.get("weight_stream_efficiency")
    return "" if share is None else f"; weights {share:.3f}, as the GPU stack streams them"


def hardware_rows(hw: dict, chip: str, load: dict | None = None) -> list[tuple[str, str]]:
    mem = memory_kind(chip)
    return [
        (f"{mem} bandwidth", f"{_pct(hw['hbm_bandwidth_util'])} of peak over the run, "
                             f"{_pct(hw.get('hbm_bandwidth_util_busy'))} while busy (sustained efficiency "
                             f"{hw['memory_efficiency']:.3f}{_weights(hw)}, calibrated)"),
        ("compute utilisation", f"{_pct(hw['mac_util'])} of peak MACs over the run, {_pct(hw.get('mac_util_busy'))} while busy "
                            f"(averaged over the {hw.get('replicas_working', '-')} replicas that worked, "
                            f"{hw.get('memory_kind', mem)} memory); {_pct(hw.get('prefill_mac_util'))} "
                            f"while prefilling (engines: prefill on {hw.get('prefill_engine', '-')}, "
                            f"decode on {hw.get('decode_engine', '-')}; {_engines(hw.get('engines'))})"),
        ("bottleneck", f"this run's busy time went mostly to {hw['bound_by']} (replicas busy "
                       f"{_pct(hw['replica_busy'])} of the time)" +
                       ("" if not load or not load.get("saturates") else
                        f"; at capacity the load model says {load['saturates']} saturates")),
        _link_row(hw),
        ("KV cache", f"peak {_pct(hw['kv_peak_occupancy'])} of {hw['kv_capacity_tokens']:,} tokens per replica"),
        (f"{mem} weights", f"{hw.get('weights_gb_per_chip', 0):,.2f} GB per chip"),
        ("preemptions", f"{hw['preemptions']:,} (swapped {hw['swap_gb']:,.2f} GB)"),
        ("work", f"{hw.get('steps', 0):,} steps, {hw.get('prefill_tokens', 0):,} prefill tokens, "
                 f"{hw.get('decode_tokens', 0):,} decode tokens at {hw.get('decode_tokens_per_s', 0):,.1f} tok/s "
                 "decode-only"),
        *pool_rows(hw.get("pools") or {}),
        *pipeline_rows(hw.get("pools") or {}),
    ]


def pipeline_rows(pools: dict) -> list[tuple[str, str]]:
    """A pipelined pool's stages, their links and the bubble its schedule left."""
    rows = []
    for role, p in pools.items():
        pipe = p.get("pipeline")
        if pipe:
            label = "pipeline" if len(pools) == 1 else f"{role} pipeline"
            rows.append((label, f"{pipe['stages']} stages of up to {pipe['layers_per_stage']} layers on {p['tp']} chip(s) "
                                f"each, up to {pipe['micro_batches']} micro-batches per step, boundaries over "
                                f"{', '.join(dict.fromkeys(pipe['stage_links']))}; the schedule left each stage idle "
                                f"{_pct(pipe['idle_share'])} of the busy time"))
    return rows


def _link_row(hw: dict) -> tuple[str, str]:
    """The chip-to-chip interconnect, named by its kind (ESL ring, NVLink); runs stored before pools say ESL."""
    if "link_busy_s_per_chip" in hw:
        return (hw["interconnect"], f"busy {hw['link_busy_s_per_chip']:,.2f} s per chip, of which steps waited on "
                                    f"it (exposed) {hw['link_exposed_s_per_chip']:,.2f} s")
    return ("ESL", f"busy {hw['esl_busy_s']:,.2f} s per chip, exposed {hw['esl_exposed_s']:,.2f} s")


def pool_rows(pools: dict) -> list[tuple[str, str]]:
    """One row per pool of a disaggregated deployment, each with its own hardware's figures."""
    if len(pools) < 2:
        return []
    rows = []
    for role, p in pools.items():
        link = p["interconnect"]
        rows.append((f"{role} pool", f"{p['replicas']} x {p['server']} replica(s) at tp {p['tp']} ({p['chips']} "
                                     f"{p['chip']} chips): {p['memory_kind']} bandwidth {_pct(p['hbm_bandwidth_util_busy'])}"
                                     f" and MACs {_pct(p['mac_util_busy'])} of peak while busy; bound by "
                                     f"{p['bound_by']}; {link['kind']} busy {link['busy_s_per_chip']:,.2f} s per chip"))
    return rows


def _engines(engines: dict | None) -> str:
    return ", ".join(f"{k} = {v}" for k, v in (engines or {}).items()) or "-"


def energy_rows(energy: dict | None, area: dict | None) -> list[tuple[str, str]]:
    """Power, energy and die area where the summary has them (the twin's energy model)."""
    rows = []
    if energy and "avg_power_w" in energy:
        device = energy.get("device_avg_power_w")
        rows.append(("power", f"{energy['avg_power_w']:,.0f} W average"
                              f"{'' if device is None else f' ({device:,.0f} W devices, the rest hosts)'}, "
                              f"{energy['peak_power_w']:,.0f} W peak, "
                              f"{energy['static_power_w']:,.0f} W static floor (chips, memory, hosts)"))
    if energy and "energy_j" in energy:
        per_token = energy.get("j_per_output_token")
        rows.append(("energy", f"{energy['energy_j'] / 3.6e6:,.3f} kWh ({energy['energy_j']:,.0f} J), "
                               f"{'-' if per_token is None else f'{per_token:.3f}'} J per output token, "
                               f"{energy.get('output_tok_s_per_kw') or 0:,.0f} output tok/s per kW"))
    if energy:
        for part, figures in energy.get("components", {}).items():
            rows.append((f"energy: {part}", ", ".join(f"{k.replace('_j', '')} {v:,.1f} J" for k, v in figures.items())))
    if area and area.get("total_mm2"):
        dies = ", ".join(_die_text(a) for a in area["pools"].values()) if area.get("pools") else \
            f"{area['chips']} x {area['die_mm2_per_chip']:,.3f} mm², {area['source']}"
        rows.append(("die area", f"{area['total_mm2']:,.1f} mm² of whole dies ({dies}), "
                                 f"{area['output_tok_s_per_mm2']:,.3f} output tok/s per mm²"))
    return rows


def _die_text(a: dict) -> str:
    """One pool's dies: the whole die, and for a modelled chip its core and uncore, with what is published."""
    uncore = a.get("uncore_mm2_per_chip")
    split = "" if not uncore else \
        f" = core {a['core_mm2_per_chip']:,.3f} + uncore {sum(uncore.values()):,.1f} (HBM PHYs and controllers, ESL, PCIe)"
    return f"{a['chips']:g} x {a['chip']} {a['die_mm2_per_chip']:,.2f} mm²{split}; {a['source']}"


ENERGY_SHOWN = {"energy_j", "avg_power_w", "peak_power_w", "static_power_w", "j_per_output_token",
                "output_tok_s_per_kw", "components", "device_j", "host_j", "device_avg_power_w",
                "device_j_per_output_token", "pools", "idle"}
AREA_SHOWN = {"die_mm2_per_chip", "chips", "total_mm2", "source", "output_tok_s_per_mm2", "pools"}
HW_SHOWN = {"prefill_mac_util", "engines", "prefill_engine", "decode_engine", "hbm_bandwidth_util", "hbm_bandwidth_util_busy", "memory_efficiency", "weight_stream_efficiency", "mac_util",
            "bound_by", "replica_busy", "esl_busy_s", "esl_exposed_s", "kv_peak_occupancy", "kv_capacity_tokens",
            "interconnect", "link_busy_s_per_chip", "link_exposed_s_per_chip", "pools",
            "weights_gb_per_chip", "preemptions", "swap_gb", "steps", "prefill_tokens", "decode_tokens",
            "memory_kind", "replicas_working", "mac_util_busy", "decode_tokens_per_s"}


def quant_rows(q: dict) -> list[tuple[str, str]]:
    """The policy, effective KV bits, exposed codec time, switches and the published accuracy effect."""
    weighted = "" if "kv_bits_time_weighted" not in q else \
        f" by tokens stored ({q['kv_bits_time_weighted']:.2f} by time)"
    rows = [("quantization", f"{q['policy']} at the end: weights {q['weights']}, KV {', '.join(q['kv_schemes'])} at "
                             f"{q['kv_bits_per_elem']:.2f} effective bits per element{weighted} (fp16 = 16); codec "
                             f"exposed {q['codec_exposed_s']:,.2f} s; {q['switch_count']:,} policy switch(es)")]
    if len(q.get("kv_token_share", {})) > 1:
        rows.append(("KV stored in", ", ".join(f"{label} {_pct(share)} of tokens ({_pct(q['kv_time_share'][label])} "
                                               f"of the time)" for label, share in q["kv_token_share"].items())))
    for sw in q.get("switches", [])[:5]:
        rows.append(("policy switch", f"at {sw['t_s']:,.1f} s on replica {sw.get('replica', '-')}: {sw['from']} -> "
                                      f"{sw['to']} ({sw.get('cause', '-')})"))
    if q.get("switch_count", 0) > 5:
        rows.append(("policy switch", f"... {q['switch_count'] - 5:,} more (runs show --json lists them)"))
    for scheme, acc in q.get("expected_accuracy", {}).items():
        rows.append((f"accuracy ({scheme})", accuracy_text(acc)))
    if q.get("token_weighted_delta_ppl") is not None and len(q.get("kv_token_share", {})) > 1:
        rows.append(("accuracy (run)", f"Wikitext2 perplexity {q['token_weighted_delta_ppl']:+.3f} vs fp16, the "
                                       "published changes weighted by each scheme's share of tokens (first order)"))
    return rows


def accuracy_text(acc: dict) -> str:
    if "unknown" in acc:
        return f"not published: {acc['unknown']}"
    tasks = ", ".join(f"{t} {v['accuracy_pct']:.2f} % ({v['delta_pct']:+.2f})" for t, v in acc["zero_shot"].items())
    bits = acc.get("published_effective_bits")
    return (f"Wikitext2 perplexity {acc['wikitext2_ppl']:.2f} vs fp16 {acc['fp16_wikitext2_ppl']:.2f} "
            f"({acc['delta_ppl']:+.2f})" + (f"; zero-shot {tasks}" if tasks else "")
            + (f"; published {bits} bits" if bits else "") + f" [{acc['source']}]")


def flat(d, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted key, value) leaves of nested dicts; lists shown by length unless short."""
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += flat(v, key + ".")
        elif isinstance(v, list) and len(v) > 4:
            out.append((key, f"{len(v):,} items"))
        else:
            out.append((key, v))
    return out


def latency_table(summary: dict) -> Table:
    t = Table(title="Latency (simulated)", title_justify="left")
    for col in ("metric", "unit", "mean", "p50", "p90", "p99", "max"):
        t.add_column(col, justify="left" if col in ("metric", "unit") else "right")
    for key, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("e2e_s", "end-to-end")):
        d = summary[key]
        scale, unit = time_unit(d.values())
        t.add_row(label, unit, *(_num(None if d.get(k) is None else d[k] * scale, ",.1f" if unit == "ms" or
                                     max(v or 0 for v in d.values()) >= 100 else ",.2f")
                                 for k in ("mean", "p50", "p90", "p99", "max")))
    return t


def _slo(slo: dict) -> str:
    if slo["attained"] is None:
        return "- (set --slo-ttft / --slo-tpot)"
    limits = ", ".join(f"{k[:-2].upper()} <= {slo[k] * 1e3:,.0f} ms" for k in ("ttft_s", "tpot_s") if slo[k])
    if "attained_of_completed" not in slo:  # stored before attainment counted rejected requests
        return f"{_pct(slo['attained'])} of finished requests ({limits})"
    return (f"{_pct(slo['attained'])} of submitted requests (rejected ones missed it), "
            f"{_pct(slo['attained_of_completed'])} of finished requests ({limits})")


def overview_table(summary: dict) -> Table:
    tw = summary["twin"]
    t = Table(title="Run", title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    rows = [("twin", f"{tw['model']} on {tw['servers']}x {tw['server']} ({tw['chip']}), tp={tw['tp']} "
                     f"({tw['topology']}), {tw['replicas']} replica(s), max batch {tw.get('max_batch')}, "
                     f"{tw.get('scheduler')}, {tw['policy']}, {tw['fidelity']} fidelity"
                     + (f", {tw['gpu_stack']} GPU stack" if "gpu_stack" in tw else "")),
            ("status", summary["status"]), *request_rows(summary), ("throughput", throughput_row(summary)),
            ("SLO attainment", _slo(summary["slo"])), *hardware_rows(summary["hardware"], tw["chip"], summary.get("load"))]
    if "quant" in summary:
        rows += quant_rows(summary["quant"])
    rows += energy_rows(summary.get("energy"), summary.get("area"))
    for k, v in rows:
        t.add_row(k, v)
    return t


SECTIONS_SHOWN = {"energy", "area", "requests", "trace", "throughput", "slo", "hardware", "quant", "twin", "load", "ttft_s",
                  "tpot_s", "e2e_s"} | SHOWN_ELSEWHERE
TWIN_SHOWN = {"model", "servers", "server", "chip", "tp", "topology", "replicas", "max_batch", "scheduler",
              "policy", "fidelity", "gpu_stack"}
QUANT_SHOWN = {"policy", "weights", "kv_schemes", "kv_bits_per_elem", "codec_exposed_s", "switch_count",
               "expected_accuracy", "switches", "kv_bits_time_weighted", "kv_bits_by_policy", "kv_token_share",
               "kv_time_share", "token_weighted_delta_ppl", "token_weighted_delta_ppl_note"}


def rest_table(summary: dict) -> Table | None:
    """Every figure no section above shows (energy, new counters, ...), so nothing is silently dropped."""
    rest = {k: v for k, v in summary.items() if k not in SECTIONS_SHOWN}
    for section, shown in (("twin", TWIN_SHOWN), ("hardware", HW_SHOWN), ("quant", QUANT_SHOWN),
                           ("energy", ENERGY_SHOWN), ("area", AREA_SHOWN)):
        extra = {k: v for k, v in summary.get(section, {}).items() if k not in shown}
        if extra:
            rest[section] = extra
    if not rest:
        return None
    t = Table(title="More", title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column(justify="right")
    for key, value in flat(rest):
        t.add_row(key, _num(value, ",.4g"))
    return t


def print_summary(console: Console, summary: dict) -> None:
    if "load" in summary:
        for line in load_lines(summary["load"], summary):
            console.print(line)
    console.print(overview_table(summary))
    console.print(latency_table(summary))
    rest = rest_table(summary)
    if rest is not None:
        console.print(rest)
