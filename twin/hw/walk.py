"""One step's layers on one chip as a timeline in closed form.

A layer on a chip (`twin.hw.chip`): the SMA holds every HBM channel for `stream_s` (the
layer's busy time, streaming, MACs and vector work overlapping, plus the KV codec in the DMA
path), then the chip's outgoing ESL port sends the part of the all-gathers that did not hide
under compute (`esl_s`), then a GPU spends `launch_s` outside the stream: its small kernels' launches, its
kernels' fill and drain, and what its matmuls' pipelines leave exposed. While
nothing else asks for the chip's channels or port, nothing can delay a layer, so the layers
follow each other back to back: which layer is in flight, what has been moved and what is
held at any instant follow from the start time alone. The walk therefore needs no event per
layer; the chip turns it back into events from the instant something else asks
(`Chip.contend`), and from then on the channels and the port are queued for as before.
"""

from __future__ import annotations


class LayerWalk:
    """The timeline of `layers` identical layers (a `LayerCost`) on a chip from `start_s`; shared by
    every chip of a replica with the same ports, since they do identical work."""

    __slots__ = ("start_s", "layers", "cost", "sends", "stream_s", "esl_s", "period_s", "end_s")

    def __init__(self, start_s: float, layers: int, cost, port: bool):
        self.start_s, self.layers, self.cost = start_s, layers, cost
        self.sends = port and cost.esl_exposed_s > 0  # an outgoing ESL port with some all-gather exposed
        self.stream_s = cost.busy_s + cost.codec_s
        self.esl_s = cost.esl_exposed_s if self.sends else 0.0
        self.period_s = self.stream_s + self.esl_s + cost.launch_s
        self.end_s = start_s + layers * self.period_s

    def position(self, now: float) -> tuple[int, float]:
        """(layer in flight, seconds into it): negative seconds before the start, `layers` once done."""
        if now < self.start_s:
            return 0, now - self.start_s
        if now >= self.end_s:
            return self.layers, 0.0
        k = min(int((now - self.start_s) // self.period_s), self.layers - 1)
        return k, now - self.start_s - k * self.period_s

    def finished(self, now: float, phase_end_s: float) -> int:
        """Layers whose phase ending `phase_end_s` into the layer is over by `now`."""
        k, offset = self.position(now)
        return k + int(k < self.layers and offset >= phase_end_s)

    def streamed(self, now: float) -> int:
        return self.finished(now, self.stream_s)

    def sent(self, now: float) -> int:
        return self.finished(now, self.stream_s + self.esl_s) if self.sends else 0

    def streaming(self, now: float) -> bool:
        """The layer in flight holds the memory channels."""
        k, offset = self.position(now)
        return k < self.layers and 0 <= offset < self.stream_s

    def sending(self, now: float) -> bool:
        """The layer in flight holds the ESL port."""
        k, offset = self.position(now)
        return self.sends and k < self.layers and self.stream_s <= offset < self.stream_s + self.esl_s
