"""Replaying a list of requests on a twin: the run loop shared by the CLI and the services.

The loop advances simulated time in slices so that a caller can show progress, hand
records to a sink in batches and stop the run; whatever happens, the result says
whether the run is complete, cancelled, interrupted or failed, and summarises what
was recorded.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from collections.abc import Iterable, Sequence, Sized
from typing import Callable

from twin import pool_result
from twin.catalog import Catalog, catalog_for, gpu_stack
from twin.config import ClusterSpec, ModelSpec, ServerSpec, ServingConfig
from twin.kv_report import kv_report, switch_list
from twin.memory import kv_layout
from twin.result_types import Summary
from twin.metrics import RequestRecord, SeriesSample
from twin.quant.policy import policy_from_dict
from twin.quant.schemes import QuantPolicy
from twin.serving.request import TraceRequest
from twin.serving.arch_summary import architecture_summary
from twin.sim import Simulation
from twin.summary import RequestTally, Slo, request_summary

MAX_LABEL_CHARS = 200  # a run's label
SLICES = 200  # progress/sink checkpoints over the trace span
STREAM_SLICE_S = 60.0  # simulated seconds between checkpoints of a stream whose span is not known
SINK_BATCH = 5_000  # records and samples handed to a sink at once: each batch is a transaction
SINK_EVERY_S = 1.0  # wall seconds: records reach the sink at least this often

Sink = Callable[[list[RequestRecord], list[SeriesSample]], None]
Progress = Callable[[int, int, float], None]  # (finished, total, simulated seconds)


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a replay's twin, by catalogue names; JSON-able through `to_dict`."""

    server: str
    model: str
    servers: int = 1
    tp: int = 1
    replicas: int | None = None
    weights: str = "fp16"
    kv: str = "fp16"
    serving: ServingConfig = field(default_factory=ServingConfig)
    slo: Slo = field(default_factory=Slo)
    policy: dict | None = None  # a quantization policy (twin.quant.policy YAML as a dict), else weights/kv
    definitions: dict | None = None  # user catalogue entries the spec uses: {"chips": {name: {...}}, ...}
    overrides: dict | None = None  # hardware fields changed for this run: {"chip.mac_trees": 64, ...}
    pp: int = 1  # pipeline stages per replica, each a tensor-parallel group of `tp` chips
    ep: int = 1  # expert parallelism: 1, or tp (each chip of a stage holds experts / ep whole experts)
    label: str | None = None  # the run's name in comparisons (runs compare, reports); None: from its design

    def __post_init__(self) -> None:
        from twin.errors import InvalidSpec
        if self.label is not None and (not isinstance(self.label, str) or len(self.label) > MAX_LABEL_CHARS
                                       or not self.label.isprintable()):
            raise InvalidSpec("label", f"must be printable text of at most {MAX_LABEL_CHARS} characters")

    def catalog(self) -> Catalog:
        return catalog_for(self.definitions)

    def server_spec(self) -> ServerSpec:
        return self.catalog().server(self.server, self.overrides or {})

    def served_server(self) -> ServerSpec:
        """The run's server as its GPU serving stack runs it (twin.serving.stack; other chips as they are)."""
        return gpu_stack(self.serving.gpu_stack).on(self.server_spec())

    def model_spec(self) -> ModelSpec:
        return self.catalog().model(self.model, self.overrides or {})

    def names(self) -> list[tuple[str, str]]:
        """Every catalogue entry the spec names, as (kind, name): what its definitions must carry."""
        refs = [("servers", self.server), ("models", self.model)]
        if self.serving.prefill_server is not None:
            refs.append(("servers", self.serving.prefill_server))
        if self.serving.draft_model is not None:
            refs.append(("models", self.serving.draft_model))
        return refs

    def build(self, observers: tuple = ()) -> Simulation:
        """The twin, every name resolved here against the spec's catalogue: the core never looks one up.
        `observers` give every replica one more feature each (twin.sim.Simulation)."""
        catalog = self.catalog()
        stack = gpu_stack(self.serving.gpu_stack)  # the GPU software the run's GPUs serve with
        cluster = ClusterSpec(self.served_server(), self.servers, self.tp, self.replicas, self.pp, self.ep)
        model = self.model_spec()
        named = {"prefill_server": None if self.serving.prefill_server is None else
                 stack.on(catalog.server(self.serving.prefill_server)),
                 "draft_model": None if self.serving.draft_model is None else catalog.model(self.serving.draft_model),
                 "observers": observers}
        if self.policy is None:
            return Simulation(cluster, model, QuantPolicy.named(self.weights, self.kv), self.serving, **named)
        spec = policy_from_dict(self.policy)
        return Simulation(cluster, model, spec.policy(model.layers), self.serving, spec.rules, **named)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunSpec":
        data = dict(data)
        serving = ServingConfig(**data.pop("serving", {}))
        slo = Slo(**data.pop("slo", {}))
        return cls(serving=serving, slo=slo, **data)


@dataclass
class RunResult:
    status: str  # complete | cancelled | interrupted | failed
    summary: dict
    error: str = ""


def replay(sim: Simulation, requests: Iterable[TraceRequest], slo: Slo = Slo(), *, sink: Sink | None = None,
           progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> RunResult:
    """Run `requests` (a list, or any iterable in arrival order, read lazily) to completion on `sim`
    (or until stopped), checkpointing as it goes. With a sink, records go to it and leave memory."""
    if sim.recorder.recorded == 0:  # the summary's SLO attainment is counted as records come
        sim.recorder.tally = RequestTally(slo)
    sim.recorder.keep = sink is None
    sim.feed(requests)
    slice_s = slice_seconds(requests) if isinstance(requests, Sequence) else STREAM_SLICE_S
    total = len(requests) if isinstance(requests, Sized) else None
    batches = _Batches(sink)
    status, error = "complete", ""
    try:
        while not sim.done:
            if should_stop is not None and should_stop():
                status = "cancelled"
                break
            advance(sim, sim.now_s + slice_s)
            _checkpoint(sim, batches, progress, total)
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user (Ctrl-C)"
    except Exception as exc:  # the run is marked failed with what was recorded, then reported
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    _checkpoint(sim, batches, progress, total, final=True)
    return RunResult(status, summarize(sim, slo, status), error)


def slice_seconds(requests: Sequence[TraceRequest]) -> float:
    """Simulated seconds between two checkpoints of a replay of `requests`."""
    span = requests[-1].arrival_s - requests[0].arrival_s if requests else 0.0
    return max(span / SLICES, 1.0)


def advance(sim: Simulation, until_s: float) -> None:
    """Run `sim` to `until_s`; a twin with unfinished requests and nothing left to do has stalled."""
    if sim.env.peek() == float("inf"):
        raise RuntimeError(f"the twin stalled with {sim.submitted - sim.finished} requests unfinished")
    sim.run(until_s)


class _Batches:
    """When to hand records to the sink: every SINK_BATCH of them, at least every SINK_EVERY_S
    seconds of wall time (a stored run's lease is renewed by its batches), and at the end."""

    def __init__(self, sink: Sink | None):
        self.sink, self.last = sink, time.monotonic()

    def offer(self, rec, final: bool) -> None:
        now = time.monotonic()
        if self.sink is None or not (final or len(rec.requests) + len(rec.series) >= SINK_BATCH
                                     or now - self.last >= SINK_EVERY_S):
            return
        self.sink(*rec.drain())
        self.last = now


def _checkpoint(sim: Simulation, batches: _Batches, progress: Progress | None, total: int | None = None,
                final: bool = False) -> None:
    batches.offer(sim.recorder, final)
    if progress is not None:
        progress(sim.finished, sim.submitted if total is None else total, sim.now_s)


def summarize(sim: Simulation, slo: Slo, status: str = "complete") -> Summary:
    """The summary of what `sim` recorded so far: its type is twin.result_types.Summary, whose JSON Schema is
    published as docs/summary.schema.json."""
    rec = sim.recorder
    counted = rec.tally.slo == slo or not rec.keep  # without the records, the SLO counted as they came is used
    summary = rec.tally.summary() if counted else request_summary(rec.requests, slo)
    summary["status"] = status
    summary["requests"]["submitted"] = sim.submitted
    summary["requests"].update(sim.context.counts())  # over-long requests: rejected or clamped, counted
    summary["hardware"] = pool_result.hardware(sim.pools, summary["makespan_s"])
    summary["quant"] = quant_summary(sim)
    summary["energy"] = pool_result.energy(sim.pools, sim.server_groups, summary["makespan_s"],
                                           summary["throughput"]["output_tokens"])
    summary["area"] = pool_result.area(sim.pools, sim.server_groups, summary["throughput"]["output_tokens_per_s"])
    summary["architecture"] = architecture_summary(sim)
    summary["twin"] = {"server": sim.cluster.server.name, "chip": sim.cluster.server.chip.name,
                       "servers": sim.cluster.servers, "tp": sim.cluster.tp, "pp": sim.cluster.pp,
                       "replicas": sim.cluster.n_replicas,
                       "model": sim.model.name, "policy": sim.policy.label, "fidelity": sim.serving.fidelity,
                       "max_batch": sim.serving.max_batch, "scheduler": sim.serving.policy,
                       "topology": sim.cluster.topology, "simulated_s": sim.now_s,
                       "memory_kind": sim.cluster.server.chip.memory.label,
                       "interconnect": pool_result.interconnect_name(sim.cluster),
                       "deployment": [{"role": p.role, "server": p.cluster.server.name, "chip": p.cluster.server.chip.name,
                                       "tp": p.cluster.tp, "pp": p.cluster.pp, "replicas": len(p.replicas),
                                       **({"ep": p.cluster.ep} if p.cluster.ep > 1 else {})}
                                      for p in sim.pools]}
    if any(p.cluster.server.chip.kind == "gpu" for p in sim.pools):  # the GPU software the figures assume
        summary["twin"]["gpu_stack"] = sim.serving.gpu_stack
    if sim.model.experts > 1:  # the routing assumption decides how many experts' weights stream
        summary["twin"]["moe_routing"] = sim.routing.label
        if sim.cluster.ep > 1:
            summary["twin"]["ep"] = sim.cluster.ep
    layout = kv_layout(sim.model, sim.replicas[-1].cost)
    if layout is not None:  # a latent, or local and global layers: what a token's KV costs
        summary["twin"]["kv_layout"] = layout  # type: ignore[typeddict-item]
    summary["throughput"]["decode_tokens_per_s"] = summary["hardware"]["decode_tokens_per_s"]
    return summary  # type: ignore[return-value]  (built section by section above)


def quant_summary(sim: Simulation) -> dict:
    """The policy at the end, what the KV was stored in over the run (token- and time-weighted, with every
    switch and its cause), the codec's exposed time, and the published accuracy effect (twin.kv_report)."""
    policy = sim.policy
    switches, count = switch_list(sim.replicas)
    return {"policy": policy.label, "weights": policy.weights.name,
            **kv_report(sim.replicas, sim.model, sim.now_s),
            "codec_exposed_s": sum(rep.stats.codec_s for rep in sim.replicas) / len(sim.replicas),
            "switches": switches, "switch_count": count}
