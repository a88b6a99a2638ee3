"""A pipeline-parallel replica's step in `layer` fidelity: stages on their own chips, micro-batches flowing.

Stage s of N holds layers [s L / N, (s + 1) L / N) on its own tensor-parallel group of chips. The
host schedules the step, the batch is cut into micro-batches (the cost model's split), and each
stage is one process that takes the micro-batches in order: it waits for one's activations,
walks its layers on its chips (`Chip.begin`, a closed-form walk as in a one-stage replica), then
hands the activations to the next stage over the link that joins them (the ESL or NVLink port
between two neighbouring chips of a server, or the server's NICs to the next server), which is
held while they serialise and then adds its latency. The last stage runs the LM head and sampler
after each micro-batch. A stage waits while the others work on the first and last micro-batches:
that idle time is the pipeline's bubble, and each stage's busy time is kept (`stage_busy_s`).
"""

from __future__ import annotations

import simpy

from twin.hw.walk import LayerWalk


def stage_layers(layers: int, stages: int) -> list[int]:
    """Layers of each stage: stage s holds [s L / N, (s + 1) L / N)."""
    return [layers * (s + 1) // stages - layers * s // stages for s in range(stages)]


class PipelineBackend:
    """Runs a replica's step through its stages (`stages`: each stage's chips) joined by `links` (the link
    after each stage but the last: anything with `carry(nbytes)` and a `name`)."""

    def __init__(self, env: simpy.Environment, cost, stages: list, links: list, host, name: str):
        self.env, self.cost, self.stages, self.links, self.host, self.name = env, cost, stages, links, host, name
        self.layers = stage_layers(cost.model.layers, len(stages))
        self.stage_busy_s = [0.0] * len(stages)  # chips' working time per stage (the last: with its LM heads)
        self.tracer = None  # a twin.trace_events.TraceEvents to report to; None costs one test

    def step(self, shape, transfer_s: float):
        start = self.env.now
        yield self.env.timeout(self.host.schedule_step())
        chips_start = self.env.now
        micro = self.cost.micro_shapes(shape)
        arrived = [[self.env.event() for _ in micro] for _ in self.stages]  # [stage][micro-batch]
        for event in arrived[0]:
            event.succeed()
        yield self.env.all_of([self.env.process(self._stage(s, micro, arrived)) for s in range(len(self.stages))])
        chips_end = self.env.now
        yield self.env.timeout(transfer_s)
        if self.tracer is not None:
            self.tracer.host(self.name, start, chips_start, chips_end, self.env.now)

    def _stage(self, s: int, micro: list, arrived: list):
        last = s == len(self.stages) - 1
        for j, b in enumerate(micro):
            yield arrived[s][j]
            begin = self.env.now
            layer = self.cost.stage_layer(b)
            yield from self._walk(self.stages[s], self.layers[s], layer)
            head_s = self.cost.micro_head_s(b) if last else 0.0
            if self.tracer is not None:
                parts = self.cost.collective_parts(b.tokens, layer.esl_exposed_s, layer.esl_bytes)
                self.tracer.stage(self.stages[s], s, j, self.layers[s], layer, (begin, self.env.now), head_s, b,
                                  parts)
            if last:
                yield self.env.timeout(head_s)
            else:
                self.env.process(self._send(s, j, b, arrived))
            self.stage_busy_s[s] += self.env.now - begin

    def _walk(self, chips: list, layers: int, layer):
        """The stage's layers for one micro-batch on its chips, waiting for any chip something contended with."""
        begin = self.env.now
        walks = {port: LayerWalk(begin, layers, layer, port) for port in (False, True)}
        for chip in chips:
            chip.begin(walks[chip.esl_out is not None])
        yield self.env.timeout(max(c.end_s for c in chips) - begin)
        running = [c.run for c in chips if c.run is not None and c.run.is_alive]
        if running:
            yield self.env.all_of(running)
        end = max(c.end_s for c in chips)
        if self.env.now < end:
            yield self.env.timeout(end - self.env.now)
        for chip in chips:
            chip.finish()

    def _send(self, s: int, j: int, b, arrived: list):
        link, nbytes = self.links[s], self.cost.activation_bytes(b)
        sent = self.env.now
        yield from link.carry(nbytes)
        if self.tracer is not None:
            self.tracer.span(link.name, f"activations to stage {s + 1}", sent, self.env.now - sent,
                             {"bytes": nbytes, "micro_batch": j})
        arrived[s + 1][j].succeed()
