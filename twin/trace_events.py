"""What the hardware did, step by step, as Chrome trace events (open the JSON in Perfetto).

In `layer` fidelity each replica's `LayerBackend` reports every step it executes: the host's
scheduling overhead, and on each chip the step's span, the time its memory channels were
streaming and the time its ESL port sent the exposed part of the collectives (all-gather
tails or all-reduces; under expert parallelism the dispatch and combine all-to-alls apart,
with their bytes), plus the LM head/sampler and PCIe tail; a group spanning servers also
shows what each server's NICs bring in. A pipeline (`PipelineBackend`) reports each stage's
micro-batches on its own chips and each hand-over on the link between stages, so the bubble
shows as gaps. One step's N identical layers are reported as one span per resource (their
sum), which keeps a whole trace's replay to a few events per chip and step.
The recorder only appends dicts to a list; writing the file is the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_EVENTS = 2_000_000  # about 300 MB of JSON; later steps are counted, not recorded
US = 1e6  # trace events count microseconds


@dataclass
class TraceEvents:
    events: list[dict] = field(default_factory=list)
    dropped: int = 0
    _tracks: dict[str, tuple[int, int]] = field(default_factory=dict)

    def track(self, path: str) -> tuple[int, int]:
        """(pid, tid) of a component path such as 'server0/chip3/hbm': one process per server."""
        if path not in self._tracks:
            server = path.split("/", 1)[0]
            pid = int(server.removeprefix("server")) if server.startswith("server") else 0
            tid = len(self._tracks) + 1
            self._tracks[path] = (pid, tid)
            self.events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": path}})
            self.events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": tid,
                                "args": {"name": server}})
        return self._tracks[path]

    def span(self, path: str, name: str, start_s: float, dur_s: float, args: dict | None = None) -> None:
        if dur_s <= 0:
            return
        if len(self.events) >= MAX_EVENTS:
            self.dropped += 1
            return
        pid, tid = self.track(path)
        self.events.append({"ph": "X", "name": name, "pid": pid, "tid": tid, "ts": start_s * US,
                            "dur": dur_s * US, "args": args or {}})

    def step(self, chips, host_path: str, layers: int, layer, times: tuple[float, float, float, float],
             head_s: float, shape, collectives=None) -> None:
        """One layer-fidelity step: `times` = (start, chips start, chips end, end) in simulated s."""
        start, chips_start, chips_end, end = times
        self.span(host_path, "schedule step", start, chips_start - start)
        args = {"decode_seqs": shape.decode_seqs, "prefill_tokens": shape.prefill_tokens, "layers": layers}
        for chip in chips:
            self.span(chip.name, "step", chips_start, chips_end - chips_start, args)
            self.span(chip.hbm.name, f"stream {layers} layers", chips_start,
                      layers * (layer.busy_s + layer.codec_s), {"bytes": layers * layer.mem_bytes})
            self._collectives(chip, layers, layer, chips_end, collectives)
            self.span(chip.name, "LM head + sampler", chips_end, head_s)
        self.span(host_path, "PCIe (tokens, swaps)", chips_end + head_s, end - chips_end - head_s)

    def _collectives(self, chip, layers: int, layer, end_s: float, parts) -> None:
        """The exposed collectives on the chip's outgoing port, one span per kind (`parts`: (name, s, bytes) per
        layer), back to back before `end_s`."""
        if chip.esl_out is None or layer.esl_exposed_s <= 0:
            return
        at = end_s - layers * layer.esl_exposed_s
        for name, seconds, nbytes in parts or [("all-gather tails", layer.esl_exposed_s, layer.esl_bytes)]:
            self.span(chip.esl_out.name, f"{name} x{layers}", at, layers * seconds, {"bytes": layers * nbytes})
            at += layers * seconds

    def stage(self, chips, s: int, j: int, layers: int, layer, times: tuple[float, float], head_s: float, shape,
              collectives=None) -> None:
        """Stage `s` of a pipeline ran micro-batch `j` over `times` = (start, end); the last stage then its head."""
        begin, end = times
        args = {"stage": s, "micro_batch": j, "decode_seqs": shape.decode_seqs,
                "prefill_tokens": shape.prefill_tokens, "layers": layers}
        for chip in chips:
            self.span(chip.name, f"stage {s} micro-batch {j}", begin, end - begin, args)
            self.span(chip.hbm.name, f"stream {layers} layers", begin, layers * (layer.busy_s + layer.codec_s),
                      {"bytes": layers * layer.mem_bytes})
            self._collectives(chip, layers, layer, end, collectives)
            self.span(chip.name, "LM head + sampler", end, head_s)

    def host(self, host_path: str, start: float, chips_start: float, chips_end: float, end: float) -> None:
        """The host's part of a pipeline step: scheduling before the first stage, PCIe after the last."""
        self.span(host_path, "schedule step", start, chips_start - start)
        self.span(host_path, "PCIe (tokens, swaps)", chips_end, end - chips_end)

    def chrome(self) -> dict:
        """The Chrome trace-event JSON object (traceEvents + metadata)."""
        return {"traceEvents": self.events, "displayTimeUnit": "ms",
                "otherData": {"source": "lpu-twin layer fidelity", "dropped_events": self.dropped}}


def attach(sim) -> TraceEvents:
    """Record the steps of every replica of a `layer`-fidelity `twin.sim.Simulation`."""
    from twin.errors import InvalidSpec
    if sim.serving.fidelity != "layer":
        raise InvalidSpec("trace_events", "chip/HBM/ESL/host activity is simulated in layer fidelity only: "
                                          "add --fidelity layer")
    recorder = TraceEvents()
    for replica in sim.replicas:
        replica.backend.tracer = recorder
    return recorder
