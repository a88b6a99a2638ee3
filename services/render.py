"""Human-readable views of summaries, runs, traces and the catalogue (rich tables)."""

from __future__ import annotations

from rich.table import Table

from services.render_summary import print_summary  # noqa: F401  (the summary view)


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


def runs_table(runs: list[dict]) -> Table:
    """Runs with their full ids (any unique prefix of one is accepted wherever a run id is)."""
    t = Table(title="Runs", title_justify="left")
    for col in ("run_id", "created (UTC)", "status", "kind", "trace", "requests"):
        t.add_column(col, no_wrap=col in ("run_id", "status"))  # 'interrupted' whole at 80 columns
    for r in runs:
        t.add_row(r["run_id"], r["created_at"][:19].replace("T", " "), r["status"], r["kind"], r["trace"],
                  f"{r['requests_recorded']:,}")
    return t


def compare_table(names: list[str], rows: list[tuple[str, list[float]]]) -> Table:
    """Figures (rows) of runs (columns, named by design: services.metrics.compare.labels)."""
    t = Table(title="Runs compared", title_justify="left")
    t.add_column("figure (unit in the name)")
    for name in names:
        t.add_column(name, justify="right")
    for metric, values in rows:
        t.add_row(metric, *(compare_cell(metric, v) for v in values))
    return t


def compare_cell(metric: str, v: float) -> str:
    """A count as an integer with thousands separators (17,750, not 1.775e+04); large figures without
    an exponent; the rest to 4 significant digits."""
    from services.metrics.compare import COUNTS
    if v != v:
        return "-"
    if metric in COUNTS or (abs(v) >= 1000 and v == int(v)):
        return f"{int(v):,}"
    return f"{v:,.1f}" if abs(v) >= 1000 else f"{v:,.4g}"


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
        heads = f"{spec.heads} heads, latent {spec.kv_lora_rank}+{spec.qk_rope_head_dim}" if spec.mla \
            else f"{spec.heads}/{spec.kv_heads} heads"
        if spec.sliding_window_pattern is not None:
            extra += (f", {spec.layers - spec.global_layers} local (window {spec.sliding_window}) and "
                      f"{spec.global_layers} global layers")
        return (f"{spec.params / 1e9:.2f} B params, {spec.layers} layers, hidden {spec.hidden}, "
                f"{heads}, ctx {spec.max_context}{extra}")
    return getattr(spec, "description", "")
