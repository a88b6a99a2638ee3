"""Shared click options for replays and traces, and their conversion to core specs.

The core (twin.replay, twin.traces, ...) is imported by the functions that convert, not here:
`twin --help` and the commands that do not simulate start without it (issue 12, item 5).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import click

from twin.errors import InvalidSpec, quote

if TYPE_CHECKING:
    from twin.replay import RunSpec
    from twin.traces import LoadedTrace, TraceOptions


def _stack(options):
    def decorate(fn):
        for opt in reversed(options):
            fn = opt(fn)
        return fn
    return decorate


def serving_options() -> list:
    """A click option per serving field with a flag (twin.serving.fields: the one table of them)."""
    from twin.config import ServingConfig
    from twin.serving.fields import FIELDS
    defaults, options = ServingConfig(), []
    for f in FIELDS:
        if f.cli_flag is None:
            continue
        default = None if f.name == "router" else getattr(defaults, f.name)  # router: per pool when unset
        kind = click.Choice(f.choices) if f.choices else \
            click.IntRange(min=f.minimum) if f.minimum is not None and f.kind is int else f.kind
        if f.name == "acceptance_dist":
            default = None
        options.append(click.option(f.cli_flag, f.name, default=default, type=kind, show_default=default is not None,
                                    help=f.help + (f" Unit: {f.unit}." if f.unit else "")))
    return options


replay_options = _stack([
    click.option("--server", default="lpu-8x-4nm", show_default=True, help="Server from the catalogue."),
    click.option("--servers", default=1, show_default=True, help="Number of servers."),
    click.option("--model", default="llama2-7b", show_default=True, help="Model from the catalogue."),
    click.option("--tp", default=None, type=int, help="Chips per replica (tensor parallel over ESL) "
                                                       "[default: all chips of a server]."),
    click.option("--pp", default=1, show_default=True, type=click.IntRange(min=1),
                 help="Pipeline stages per replica, each a tensor-parallel group of --tp chips (step fidelity)."),
    click.option("--ep", default=1, show_default=True, type=click.IntRange(min=1),
                 help="Expert parallelism of an MoE model: 1, or --tp (each chip holds experts / ep whole experts; "
                      "tokens reach them by all-to-all; step fidelity)."),
    click.option("--replicas", default=None, type=int, help="Replicas [default: as many as fit]."),
    click.option("--label", default=None, help="The run's name in runs compare and reports [default: from its "
                                               "design, e.g. 'llama2-7b on dgx-h100, tp 8, pd 1:1']."),
    click.option("--weights", default="fp16", show_default=True, help="Weight scheme: fp16, int8, int4."),
    click.option("--kv-quant", "kv", default="fp16", show_default=True,
                 help="KV-cache scheme: fp16, int8, int4, oaken, kivi, kivi2, kvquant, qserve, atom."),
    click.option("--policy", "policy_file", default=None, type=click.Path(exists=True, dir_okay=False),
                 help="Quantization policy YAML (per-layer schemes, adaptive rules); overrides "
                      "--weights/--kv-quant."),
    click.option("--slo-ttft", default=None, type=float, help="TTFT SLO in seconds."),
    click.option("--slo-tpot", default=None, type=float, help="TPOT SLO in seconds."),
    *serving_options(),
])

trace_options = _stack([
    click.option("--format", "fmt", default=None, help="Trace format (default: detected from the header)."),
    click.option("--mapping", default=None, help="Column mapping for generic CSV/JSONL, e.g. "
                                                 "'arrival=ts:ms,input=prompt,output=completion'."),
    click.option("--on-bad-row", default="raise", show_default=True, type=click.Choice(["raise", "skip"]),
                 help="Stop at a malformed row, or drop and count it."),
    click.option("--speedup", default=1.0, show_default=True, help="Divide arrival times by this."),
    click.option("--rate", default=None, type=float, help="Rescale arrivals to this mean rate (req/s); a trace "
                                                           "without times gets Poisson arrivals at it."),
    click.option("--burstiness", default=None, type=float,
                 help="With --rate: draw arrivals with gamma gaps of this shape instead (1 = Poisson, lower is "
                      "burstier; seeded by --seed), as vLLM's benchmark --burstiness."),
    click.option("--window", default=None, help="START:END seconds of the trace to keep."),
    click.option("--sample", default=1.0, show_default=True, help="Keep this fraction of requests (seeded)."),
    click.option("--limit", default=None, type=int, help="Keep the first N requests."),
])


def trace_options_from(opts: dict) -> TraceOptions:
    """The trace options of the CLI's flags. Nothing is clamped at load, for any command: the twin rejects
    (or clamps) over-long requests itself and counts them, as the controller's runs do."""
    from twin.traces import TraceOptions, parse_mapping
    start, end = parse_window(opts.get("window"))
    return TraceOptions(fmt=opts.get("fmt"), mapping=parse_mapping(opts["mapping"]) if opts.get("mapping") else None,
                        on_bad_row=opts.get("on_bad_row", "raise"), window_start_s=start, window_end_s=end,
                        sample_fraction=opts.get("sample", 1.0), sample_seed=opts.get("seed", 0) or 0,
                        limit=opts.get("limit"), speedup=opts.get("speedup", 1.0), rate_rps=opts.get("rate"),
                        burstiness=opts.get("burstiness"))


def parse_window(text: str | None) -> tuple[float, float | None]:
    """`START:END` seconds (either may be empty) as (start, end or None)."""
    if not text:
        return 0.0, None
    a, colon, b = text.partition(":")
    try:
        start, end = float(a or 0), (float(b) if b else None)
    except ValueError:
        colon = ""
    if not colon or not math.isfinite(start) or (end is not None and math.isnan(end)):
        raise InvalidSpec("--window", f"expected START:END in seconds (e.g. 60:600 or 60:), got {quote(text)}")
    return start, end


def run_spec(opts: dict, catalog=None) -> RunSpec:
    """The RunSpec of the replay options; user catalogue entries it uses travel inside it."""
    from twin.catalog import default_catalog
    from twin.config import ServingConfig
    from twin.quant.policy import load_policy
    from twin.replay import RunSpec
    from twin.summary import Slo
    catalog = catalog or default_catalog()
    overrides = opts.get("overrides") or None
    tp = opts["tp"] or catalog.server(opts["server"], overrides or {}).chips
    catalog.model(opts["model"])  # an unknown model fails here, before any trace is read
    policy = load_policy(opts["policy_file"]).to_dict() if opts.get("policy_file") else None
    serving = ServingConfig(**serving_fields(opts, (policy or {}).get("serving", {})))
    weights, kv = (policy["weights"], policy["kv"]) if policy else (opts["weights"], opts["kv"])
    spec = RunSpec(server=opts["server"], model=opts["model"], servers=opts["servers"], tp=tp,
                   replicas=opts["replicas"], weights=weights, kv=kv, serving=serving, pp=opts.get("pp") or 1,
                   ep=opts.get("ep") or 1, label=opts.get("label"),
                   slo=Slo(opts["slo_ttft"], opts["slo_tpot"]), policy=policy, overrides=overrides)
    # every name the run uses (prefill server, draft model too) resolved against this catalogue, carried inside
    return dataclasses.replace(spec, definitions=catalog.definitions_for(*spec.names()) or None)


def serving_fields(opts: dict, from_policy: dict) -> dict:
    """ServingConfig's fields from the CLI's options (twin.serving.fields names both); a policy file's
    `serving:` section fills the architecture fields the flags leave at their defaults."""
    from twin.config import ARCHITECTURE_FIELDS, ServingConfig
    from twin.serving.fields import FIELDS
    from twin.serving.options import parse_beta
    fields = {f.name: opts[f.name] for f in FIELDS if f.cli_flag is not None and f.name in opts}
    router = opts.get("router")
    fields.update(router=router or "round-robin", prefill_router=router or "least-tokens",
                  acceptance_dist=parse_beta(opts["acceptance_dist"]) if opts.get("acceptance_dist") else None)
    defaults = ServingConfig()
    for key, value in from_policy.items():
        if key not in ARCHITECTURE_FIELDS:
            continue
        if router is None and key == "router":
            fields["prefill_router"] = value
        if fields.get(key) == getattr(defaults, key):
            fields[key] = value
    return fields


def context_warning(spec: RunSpec) -> str | None:
    """A warning line when a run serves requests past the model's trained context."""
    trained, limit = spec.model_spec().max_context, spec.serving.max_context
    if limit is None or limit <= trained:
        return None
    return (f"warning: --max-context {limit} is past {spec.model}'s trained context of {trained} tokens; "
            "the twin prices the longer requests, the model's quality there is not modelled")


def checked_trace(spec: RunSpec, source: str, opts: dict) -> LoadedTrace:
    """The trace a CLI run replays (twin replay, a local twin sweep), within the limits; skipped or reordered
    rows said on stderr (never in --json). The controller loads its runs' traces with the same options."""
    from rich.console import Console

    from services.limits import RunLimits
    from twin.traces import load_trace
    from twin.traces.loader import streamed_trace
    limits = RunLimits.from_env()
    limits.check_spec(spec)
    limits.check_source(source)
    # No clamping at load: the twin rejects (or clamps) over-long requests itself, and counts them.
    options = trace_options_from(opts)
    trace = streamed_trace(source, options) or load_trace(source, options)
    limits.check_trace(trace)
    warn = Console(stderr=True)
    if trace.bad_rows:
        warn.print(f"[yellow]skipped {trace.bad_rows} malformed row(s); first: {trace.first_bad_row}[/]")
    if trace.out_of_order:
        warn.print(f"[yellow]{trace.out_of_order} request(s) of {trace.name} arrive before a row above them; "
                   "replayed in arrival order[/]")
    return trace


__all__ = ["replay_options", "trace_options", "trace_options_from", "checked_trace", "run_spec", "context_warning"]
