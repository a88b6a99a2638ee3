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

import math
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
    # a decoding token attends its whole context, or in local layers only their window
    decode = StepShape(decode_seqs=batch, decode_context=round(batch * cost.model.attended_context(context)),
                       outputs=batch)
    prefill_s, step_s = cost.step_time(prefill), cost.step_time(decode)
    decode_share = (o - 1) * step_s / batch
    saturating = decode if decode_share >= prefill_s else prefill
    return Capacity(replicas / (prefill_s + decode_share), batch,
                    "KV cache" if by_kv < max_batch else "max batch",
                    _resource(cost, saturating), prefill_s, step_s)


INTERCONNECT = {"esl": "ESL ring", "nvlink": "NVLink"}  # a link's kind, as summaries name it


def compute_word(chip) -> str:
    """The compute resource by what the chip has: MAC trees (an LPU), else its first engine (tensor cores of a
    GPU, a systolic array)."""
    if chip.mac_trees or not chip.engines:
        return "compute (MAC trees)"
    return {"systolic": "compute (systolic array)"}.get(chip.engines[0].type, "compute (tensor cores)")


def link_word(link, codec: bool) -> str:
    """The chip-to-chip link by its kind, with the KV codec where its exposed time is counted with it."""
    name = INTERCONNECT.get(link.kind, link.kind)
    return f"{name} / KV codec" if codec else name


def _resource(cost: CostModel, shape: StepShape) -> str:
    layer = cost.layer(shape)
    shares = {"memory bandwidth": layer.mem_s, compute_word(cost.server.chip): layer.compute_s,
              "vector unit": layer.vxe_s,
              link_word(cost.server.link, layer.codec_s > 0): layer.esl_exposed_s + layer.codec_s}
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
    return _load_dict(sustainable(cost, replicas, max_batch, kv_tokens, mix), mix)


def _load_dict(cap: Capacity, mix: Mix) -> dict:
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
    """`load_summary` for a built `twin.sim.Simulation` and the requests it is (or was) given; a disaggregated
    deployment sustains what the slower of its prefill and decode pools does, each on its own hardware."""
    mix = Mix.of(requests)
    if len(sim.pools) == 1:
        pool = sim.pools[0]
        out = load_summary(pool.replicas[0].cost, len(pool.replicas), sim.serving.max_batch,
                           pool.plan.kv_blocks * pool.block_tokens, mix)
        out["next_step"] = headroom_step(out, len(pool.replicas), pool.cluster.replicas_per_server,
                                         pool.cluster.servers_per_replica)
        return out
    prefill, decode = sim.pools
    return pd_load_summary(prefill.replicas[0].cost, len(prefill.replicas), decode.replicas[0].cost,
                           len(decode.replicas), sim.serving.max_batch, decode.plan.kv_blocks * decode.block_tokens, mix)


def headroom_step(load: dict, replicas: int, replicas_per_server: int, servers_per_replica: int = 1) -> dict | None:
    """What would give a loaded cluster headroom (load factor under NEAR_CAPACITY), from the same capacity
    model: the fewest servers of this layout, or the highest arrival rate this cluster keeps up with.
    None when it already has headroom, or when all requests arrive at once (no rate to compare)."""
    offered, sustainable = load["offered_requests_per_s"], load["sustainable_requests_per_s"]
    if offered is None or load["verdict"] == "headroom" or sustainable <= 0:
        return None
    per_replica = sustainable / replicas
    needed = math.floor(offered / (per_replica * NEAR_CAPACITY)) + 1  # strictly under the threshold
    if replicas_per_server:
        servers = math.ceil(needed / replicas_per_server)
        replicas = servers * replicas_per_server
    else:  # a replica spans servers
        servers, replicas = needed * servers_per_replica, needed
    return {"servers": servers, "replicas": replicas, "load_factor_then": offered / (per_replica * replicas),
            "rate_rps": sustainable * NEAR_CAPACITY}


def pd_load_summary(prefill_cost: CostModel, prefills: int, decode_cost: CostModel, decodes: int, max_batch: int,
                    kv_tokens: int, mix: Mix) -> dict:
    """`load_summary` of a prefill pool feeding a decode pool: each pool's own rate, the deployment the lower."""
    first = sustainable(prefill_cost, prefills, max_batch, kv_tokens, mix)
    second = sustainable(decode_cost, decodes, max_batch, kv_tokens, mix)
    p, o = max(mix.input_tokens, 1.0), max(mix.output_tokens, 1.0)
    prefill_rps = prefills / first.prefill_s
    decode_rps = decodes * second.batch / ((o - 1) * second.decode_step_s) if o > 1 else float("inf")
    prefill_shape = StepShape(prefill_tokens=round(p), prefill_pairs=p * (p + 1) / 2, outputs=1)
    decode_shape = StepShape(decode_seqs=second.batch, outputs=second.batch,
                             decode_context=round(second.batch * decode_cost.model.attended_context(p + o / 2)))
    limit = ("prefill pool: " + _resource(prefill_cost, prefill_shape)) if prefill_rps <= decode_rps else \
        ("decode pool: " + _resource(decode_cost, decode_shape))
    cap = Capacity(min(prefill_rps, decode_rps), second.batch, second.batch_limited_by, limit,
                   first.prefill_s, second.decode_step_s)
    out = _load_dict(cap, mix)
    out["pools"] = {"prefill_requests_per_s": prefill_rps, "decode_requests_per_s": decode_rps}
    return out
