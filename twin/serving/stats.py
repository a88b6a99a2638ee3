"""Per-replica activity counters, accumulated step by step (or horizon by horizon)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from twin.serving.cost import LayerCost


@dataclass
class ReplicaStats:
    steps: int = 0
    busy_s: float = 0.0  # time the replica was executing steps
    decode_busy_s: float = 0.0  # time in steps that carried no prompt tokens
    mem_bytes: float = 0.0  # per chip, summed over steps
    mem_busy_s: float = 0.0  # per chip: time the memory system streamed
    macs: float = 0.0  # per chip
    esl_bytes: float = 0.0  # per chip
    esl_exposed_s: float = 0.0  # time steps waited on ESL
    codec_s: float = 0.0  # time steps waited on KV quantization/dequantization
    prefill_tokens: int = 0
    decode_tokens: int = 0  # output tokens made by decode steps
    prefill_outputs: int = 0  # output tokens made at the end of a prefill (first, or after a recompute)
    preemptions: int = 0
    swap_bytes: float = 0.0
    rejected: int = 0
    prefill_busy_s: float = 0.0  # time in steps that carried prompt tokens
    prefill_macs: float = 0.0  # per chip, in those steps
    peak_dynamic_w: float = 0.0  # per chip: dynamic power of the most power-hungry step (twin.energy)
    prefix_saved_tokens: int = 0  # prompt tokens a prefix-cache hit spared the prefill
    draft_s: float = 0.0  # time in speculative draft steps
    spec_seq_steps: int = 0  # speculative steps taken, summed over sequences
    spec_tokens: int = 0  # tokens those steps made
    pipeline_idle_s: float = 0.0  # of busy_s, what a pipeline's schedule left each stage idle (its bubble)

    def add_work(self, work: tuple[float, ...], n: float) -> None:
        """Add `n` layers each doing `work` (WORK_FIELDS of a LayerCost)."""
        mem_bytes, mem_s, macs, esl_bytes, esl_s, codec_s = work
        self.mem_bytes += mem_bytes * n
        self.mem_busy_s += mem_s * n
        self.macs += macs * n
        self.esl_bytes += esl_bytes * n
        self.esl_exposed_s += esl_s * n
        self.codec_s += codec_s * n

    def add_prefill(self, cost: LayerCost, layers: int, elapsed: float) -> None:
        self.prefill_busy_s += elapsed
        self.prefill_macs += cost.macs * layers

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


WORK_FIELDS = ("mem_bytes", "mem_s", "macs", "esl_bytes", "esl_exposed_s", "codec_s")  # what the counters add up


def work_of(c: LayerCost) -> tuple[float, ...]:
    return c.mem_bytes, c.mem_s, c.macs, c.esl_bytes, c.esl_exposed_s, c.codec_s


def mean_work(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, ...]:
    """The average of two layers' work (exact for quantities affine in the step index)."""
    return tuple((x + y) / 2 for x, y in zip(a, b))
