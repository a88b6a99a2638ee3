"""The figures of `twin report`, built with plotly from a run's stored records, series and summary.

Each function takes a list of `RunData` (one per run, overlaid in one colour each) and returns
a plotly Figure. Curves are reduced before plotting (CDFs to quantiles, timelines to bins), so a
report of a 20,000-request run stays a few megabytes, most of it plotly.js itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from twin.metrics import RequestRecord, SeriesSample

CDF_POINTS = 500
BINS = 200
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


@dataclass
class RunData:
    run: dict  # as `twin runs show --json`
    records: list[RequestRecord]
    series: list[SeriesSample]
    components: dict[str, dict[str, float]] = field(default_factory=dict)
    name: str = ""  # the run by design (services.metrics.compare.labels), set by the report

    @property
    def label(self) -> str:
        return self.name or self.run["run_id"][:8]

    @property
    def summary(self) -> dict:
        return self.run.get("summary") or {}


def _colour(i: int) -> str:
    return COLOURS[i % len(COLOURS)]


def cdf(values: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """(value, cumulative share) at CDF_POINTS quantiles."""
    if not values:
        return np.array([]), np.array([])
    q = np.linspace(0, 1, min(CDF_POINTS, len(values)))
    return np.quantile(np.asarray(values, dtype=float), q), q


def latency_cdfs(runs: list[RunData]) -> go.Figure:
    metrics = (("TTFT", "ttft_s"), ("TPOT", "tpot_s"), ("end-to-end", "e2e_s"))
    fig = make_subplots(rows=1, cols=3, subplot_titles=[f"{name} CDF" for name, _ in metrics])
    for i, rd in enumerate(runs):
        done = [r for r in rd.records if r.state == "done"]
        for col, (_, attr) in enumerate(metrics, start=1):
            x, y = cdf([v for r in done if (v := getattr(r, attr)) is not None])
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=rd.label, legendgroup=rd.label,
                                     showlegend=col == 1, line={"color": _colour(i)}), row=1, col=col)
            fig.update_xaxes(title_text="seconds (simulated)", type="log", row=1, col=col)
    fig.update_yaxes(title_text="share of finished requests", row=1, col=1)
    return _layout(fig, "Latency distributions")


def _bins(rd: RunData) -> np.ndarray:
    end = max([r.finish_s for r in rd.records if r.finish_s is not None] + [s.t_s for s in rd.series] + [1.0])
    return np.linspace(0.0, end, BINS + 1)


def throughput_queue(runs: list[RunData]) -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, subplot_titles=(
        "output tokens/s (tokens of requests finishing in each interval)", "queued requests (all replicas)"))
    for i, rd in enumerate(runs):
        edges = _bins(rd)
        done = [r for r in rd.records if r.finish_s is not None]
        tokens, _ = np.histogram([r.finish_s for r in done], edges, weights=[r.output_tokens for r in done])
        mid = (edges[:-1] + edges[1:]) / 2
        fig.add_trace(go.Scatter(x=mid, y=tokens / np.diff(edges), name=rd.label, legendgroup=rd.label,
                                 line={"color": _colour(i)}), row=1, col=1)
        t, q = summed(rd.series, "/queue")
        fig.add_trace(go.Scatter(x=t, y=q, name=rd.label, legendgroup=rd.label, showlegend=False,
                                 line={"color": _colour(i), "shape": "hv"}), row=2, col=1)
    fig.update_xaxes(title_text="simulated time (s)", row=2, col=1)
    _mark_switches(fig, runs, rows=2)
    return _layout(fig, "Throughput and queue over time", height=560)


def summed(series: list[SeriesSample], suffix: str, reduce=np.sum) -> tuple[list[float], list[float]]:
    """One curve from every replica's `replicaN<suffix>` series, combined at each sample time."""
    by_t: dict[float, list[float]] = {}
    for s in series:
        if s.name.endswith(suffix):
            by_t.setdefault(s.t_s, []).append(s.value)
    times = sorted(by_t)
    return times, [float(reduce(by_t[t])) for t in times]


def kv_batch(runs: list[RunData]) -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True,
                        subplot_titles=("KV cache occupancy (mean over replicas)", "running batch (all replicas)"))
    for i, rd in enumerate(runs):
        t, kv = summed(rd.series, "/kv_occupancy", np.mean)
        fig.add_trace(go.Scatter(x=t, y=kv, name=rd.label, legendgroup=rd.label, line={"color": _colour(i)}),
                      row=1, col=1)
        t, b = summed(rd.series, "/batch")
        fig.add_trace(go.Scatter(x=t, y=b, name=rd.label, legendgroup=rd.label, showlegend=False,
                                 line={"color": _colour(i), "shape": "hv"}), row=2, col=1)
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_xaxes(title_text="simulated time (s)", row=2, col=1)
    _mark_switches(fig, runs, rows=2)
    return _layout(fig, "KV cache and batch over time", height=560)


def _mark_switches(fig: go.Figure, runs: list[RunData], rows: int) -> None:
    """Quantization policy switches as dashed vertical lines on every timeline."""
    for i, rd in enumerate(runs):
        for sw in rd.summary.get("quant", {}).get("switches", []):
            for row in range(1, rows + 1):
                label = {"annotation_text": f"switch to {sw['to']}"} if row == 1 else {}  # None would print "new text"
                fig.add_vline(x=sw["t_s"], line={"dash": "dash", "color": _colour(i), "width": 1}, row=row, col=1,
                              **label)


def utilisation(runs: list[RunData]) -> go.Figure:
    """Whole-run utilisation by resource, and the busy share of every replica (component)."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45],
                        subplot_titles=("utilisation over the run", "time share per component"))
    for i, rd in enumerate(runs):
        hw, span = rd.summary.get("hardware", {}), max(rd.summary.get("makespan_s") or 0.0, 1e-12)
        link = hw.get("interconnect", "ESL")  # runs stored before pools: ESL
        bars = {"memory bandwidth": hw.get("hbm_bandwidth_util"), "memory bw while busy":
                hw.get("hbm_bandwidth_util_busy"), "MACs": hw.get("mac_util"),
                "replicas busy": hw.get("replica_busy"),
                f"{link} busy": (hw.get("link_busy_s_per_chip", hw.get("esl_busy_s")) or 0.0) / span,
                f"{link} exposed": (hw.get("link_exposed_s_per_chip", hw.get("esl_exposed_s")) or 0.0) / span,
                "KV peak": hw.get("kv_peak_occupancy")}
        fig.add_trace(go.Bar(x=list(bars), y=list(bars.values()), name=rd.label, legendgroup=rd.label,
                             marker_color=_colour(i)), row=1, col=1)
        x, y = component_shares(rd.components, span)
        fig.add_trace(go.Bar(x=x, y=y, name=rd.label, legendgroup=rd.label, showlegend=False,
                             marker_color=_colour(i)), row=1, col=2)
    fig.update_yaxes(tickformat=".0%", title_text="share of the run", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", title_text="share of the run", row=1, col=2)
    fig.update_layout(barmode="group")
    return _layout(fig, "Hardware utilisation")


COMPONENT_TIMES = (("busy_s", "busy"), ("prefill_busy_s", "prefilling"), ("mem_busy_s", "memory streaming"),
                   ("esl_exposed_s", "link exposed"), ("codec_s", "KV codec exposed"))


def component_shares(components: dict[str, dict[str, float]], span: float) -> tuple[list[str], list[float]]:
    """(component: activity, share of the run) for every stored component's time counters."""
    x, y = [], []
    for name in sorted(components):
        for key, label in COMPONENT_TIMES:
            if key in components[name]:
                x.append(f"{name}: {label}")
                y.append(components[name][key] / span)
    return x, y


# The efficiency panel: one quantity per axis, each with its unit; the path in the summary, and how to show it
EFFICIENCY = (("J per output token", "J", ("energy", "j_per_output_token")),
              ("output tok/s per kW", "tok/s/kW", ("energy", "output_tok_s_per_kw")),
              ("average power", "W", ("energy", "avg_power_w")),
              ("whole-die area", "mm²", ("area", "total_mm2")),
              ("output tok/s per mm²", "tok/s/mm²", ("area", "output_tok_s_per_mm2")))


def energy(runs: list[RunData]) -> go.Figure | None:
    """Efficiency and area across the runs: one quantity per axis, in its unit; average power split into
    devices and hosts where the summary has the split."""
    if not any(rd.summary.get("energy") or rd.summary.get("area") for rd in runs):
        return None
    fig = make_subplots(rows=1, cols=len(EFFICIENCY), subplot_titles=[name for name, _, _ in EFFICIENCY])
    for col, (name, unit, (section, key)) in enumerate(EFFICIENCY, start=1):
        for i, rd in enumerate(runs):
            part = rd.summary.get(section) or {}
            value = part.get(key)
            if key == "avg_power_w" and part.get("device_avg_power_w") is not None:
                device = part["device_avg_power_w"]
                fig.add_trace(go.Bar(x=[rd.label], y=[device], name=rd.label, legendgroup=rd.label,
                                     showlegend=col == 1, marker_color=_colour(i)), row=1, col=col)
                fig.add_trace(go.Bar(x=[rd.label], y=[value - device], name=f"{rd.label}: hosts",
                                     legendgroup=rd.label, showlegend=False, marker_color=_colour(i),
                                     marker_pattern_shape="/", opacity=0.5), row=1, col=col)
                continue
            fig.add_trace(go.Bar(x=[rd.label], y=[value], name=rd.label, legendgroup=rd.label,
                                 showlegend=col == 1, marker_color=_colour(i)), row=1, col=col)
        fig.update_yaxes(title_text=unit, row=1, col=col)
        fig.update_xaxes(showticklabels=False, row=1, col=col)
    fig.update_layout(barmode="stack")
    return _layout(fig, "Efficiency and area (average power: devices, hatched: hosts)", height=460)


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=title, height=height, template="plotly_white", margin={"t": 80, "l": 60, "r": 20},
                      legend={"title": "run"})
    return fig


def measured_predicted_cdfs(doc: dict, first_colour: int = 0) -> go.Figure:
    """A `twin validate --json` document: per measured file, the measured (solid) and predicted (dashed)
    TTFT, TPOT and end-to-end CDFs overlaid."""
    metrics = (("TTFT", "ttft"), ("TPOT", "tpot"), ("end-to-end", "e2e"))
    fig = make_subplots(rows=1, cols=3, subplot_titles=[f"{name} CDF" for name, _ in metrics])
    for i, rep in enumerate(doc["files"], start=first_colour):
        for side, dash in (("measured", "solid"), ("predicted", "dash")):
            label = f"{rep['file']} {side}"
            for col, (_, key) in enumerate(metrics, start=1):
                x, y = cdf([v for v in rep["per_request"][key][side] if v is not None])
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=label, legendgroup=label,
                                         showlegend=col == 1, line={"color": _colour(i), "dash": dash}),
                              row=1, col=col)
                fig.update_xaxes(title_text="seconds", type="log", row=1, col=col)
    fig.update_yaxes(title_text="share of requests", row=1, col=1)
    return _layout(fig, f"Measured against predicted on {doc['server']} / {doc['model']}")
