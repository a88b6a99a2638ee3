"""Offered load against what a cluster can sustain for a trace's request mix.

The sustainable rate is predicted from the same cost model the engine uses, for a
replica in steady state: every request costs its own prefill step (prefills do not
overlap decodes on a replica) plus its share of the decode steps of a full batch.
The batch is capped by `max_batch` and by how many sequences of the mix's mean
context fit in the replica's KV cache. With mean prompt `p` and output `o`:

    per request  = prefill(p) + (o - 1) * decode_step(B, context p + o/2) / B
    sustainable  = replicas / per request

A mean sequence holds `p + o/2` KV tokens on average over its life (it grows from p
to p + o), so B = KV tokens / (p + o/2). The verdict compares the trace's offered
rate with that figure: above it the queue grows without bound and TTFT is queueing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

from twin.serving.cost import CostModel, StepShape

NEAR_CAPACITY = 0.8  # offered/sustainable above this: queueing delay already shows in TTFT tails


@dataclass(frozen=True)
class Mix:
    """What a trace offers: request count, arrival span and mean tokens per request."""

    requests: int
    span_s: float
    input_tokens: float  # mean prompt tokens
    output_tokens: float  # mean output tokens

    @classmethod
    def of(cls, requests: Iterable) -> "Mix":
        """From trace requests (anything with arrival_s, input_tokens, output_tokens)."""
        n, first, last, tin, tout = 0, float("inf"), float("-inf"), 0, 0
        for r in requests:
            n, tin, tout = n + 1, tin + r.input_tokens, tout + r.output_tokens
            first, last = min(first, r.arrival_s), max(last, r.arrival_s)
        if n == 0:
            return cls(0, 0.0, 0.0, 0.0)
        return cls(n, last - first, tin / n, tout / n)

    @property
    def requests_per_s(self) -> float | None:
        """Mean arrival rate; None for a trace whose requests all arrive at once."""
        return (self.requests - 1) / self.span_s if self.span_s > 0 and self.requests > 1 else None


@dataclass(frozen=True)
class Capacity:
    requests_per_s: float  # sustainable for this mix over the whole cluster
    batch: int  # steady-state decode batch per replica
    batch_limited_by: str  # "max batch" or "KV cache"
    saturates: str  # the resource the busy time mostly goes to
    prefill_s: float  # one mean prefill
    decode_step_s: float  # one full-batch decode step


def sustainable(cost: CostModel, replicas: int, max_batch: int, kv_tokens: int, mix: Mix) -> Capacity:
    """Predicted steady-state request rate of `replicas` replicas priced by `cost` for `mix`."""
    p, o = max(mix.input_tokens, 1.0), max(mix.output_tokens, 1.0)
    context = p + o / 2
    by_kv = max(int(kv_tokens // context), 1)
    batch = min(max_batch, by_kv)
    prefill = StepShape(prefill_tokens=round(p), prefill_pairs=p * (p + 1) / 2, outputs=1)
    decode = StepShape(decode_seqs=batch, decode_context=round(batch * context), outputs=batch)
    prefill_s, step_s = cost.step_time(prefill), cost.step_time(decode)
    decode_share = (o - 1) * step_s / batch
    saturating = decode if decode_share >= prefill_s else prefill
    return Capacity(replicas / (prefill_s + decode_share), batch,
                    "KV cache" if by_kv < max_batch else "max batch",
                    _resource(cost, saturating), prefill_s, step_s)


def _resource(cost: CostModel, shape: StepShape) -> str:
    layer = cost.layer(shape)
    shares = {"memory bandwidth": layer.mem_s, "compute (MAC trees)": layer.compute_s,
              "vector unit": layer.vxe_s, "ESL / KV codec": layer.esl_exposed_s + layer.codec_s}
    return max(shares, key=shares.get)


def verdict(offered_rps: float | None, capacity: Capacity) -> tuple[str, float | None]:
    """('OVERLOADED' | 'near capacity' | 'headroom', offered / sustainable)."""
    if offered_rps is None:
        return "headroom", None
    load = offered_rps / capacity.requests_per_s
    if load > 1.0:
        return "OVERLOADED", load
    return ("near capacity" if load >= NEAR_CAPACITY else "headroom"), load


def load_summary(cost: CostModel, replicas: int, max_batch: int, kv_tokens: int, mix: Mix) -> dict:
    """The summary's `load` section: offered vs sustainable, verdict, what saturates."""
    cap = sustainable(cost, replicas, max_batch, kv_tokens, mix)
    rps = mix.requests_per_s
    word, load = verdict(rps, cap)
    tokens = None if rps is None else rps * (mix.input_tokens + mix.output_tokens)
    return {"offered_requests_per_s": rps, "offered_tokens_per_s": tokens,
            "mean_input_tokens": mix.input_tokens, "mean_output_tokens": mix.output_tokens,
            "sustainable_requests_per_s": cap.requests_per_s,
            "sustainable_tokens_per_s": cap.requests_per_s * (mix.input_tokens + mix.output_tokens),
            "load_factor": load, "verdict": word, **{k: v for k, v in asdict(cap).items()
                                                      if k != "requests_per_s"}}


def of_simulation(sim, requests: Iterable) -> dict:
    """`load_summary` for a built `twin.sim.Simulation` and the requests it is (or was) given."""
    kv_tokens = sim.memory.kv_blocks * sim.serving.block_tokens
    return load_summary(sim.replicas[0].cost, sim.cluster.n_replicas, sim.serving.max_batch, kv_tokens,
                        Mix.of(requests))
