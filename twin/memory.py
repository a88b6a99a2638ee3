"""Memory planning: do the weights fit, and how many KV blocks does each replica get?"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin.config import ClusterSpec, ModelSpec, ServingConfig
from twin.errors import CapacityExceeded, InvalidSpec
from twin.quant.schemes import FP16_BYTES, QuantPolicy, WEIGHT_SCHEMES
from twin.serving.cost import CostModel
from twin.units import GB, GIB


@dataclass(frozen=True)
class MemoryPlan:
    capacity_bytes: float  # per chip
    weight_bytes: float  # per chip
    activation_bytes: float  # per chip, workspace for the largest step
    kv_block_bytes: float  # one block over the whole replica
    kv_blocks: int  # per replica
    prefix_cache_tokens: float = 0.0  # per replica, set aside from the KV memory (math.inf: unbounded study)
    draft_weight_bytes: float = 0.0  # per chip, a speculative draft model's weights

    @property
    def kv_bytes(self) -> float:
        return self.kv_blocks * self.kv_block_bytes


def plan_memory(cluster: ClusterSpec, model: ModelSpec, policy: QuantPolicy, serving: ServingConfig,
                draft: ModelSpec | None = None) -> MemoryPlan:
    """The plan of one replica; `draft` is the speculative draft model serving.draft_model names, resolved."""
    tp, chip = cluster.tp, cluster.server.chip
    if cluster.pp > model.layers:
        raise InvalidSpec("pp", f"pp={cluster.pp} is more stages than {model.name}'s {model.layers} layers")
    cost = CostModel(model, cluster.server, tp, policy, pp=cluster.pp, ep=cluster.ep)
    draft_weights, draft_kv = _draft(cluster, policy, serving, draft)
    weights = cost.weight_bytes() + draft_weights
    context = serving.max_context or model.max_context
    step_tokens = max(context, serving.chunk_tokens)
    act = step_tokens * (2 * model.hidden + model.ffn) * FP16_BYTES / tp
    block = serving.block_tokens * (model.layers * cost.kv_token_layer_bytes + draft_kv)  # whole replica
    free = chip.memory.capacity_bytes - weights - act
    # KV of the largest stage's layers per chip (a pipeline's); the block is the whole replica's
    chips = tp if cluster.pp == 1 else tp * model.layers / cost.stage_layers
    blocks = int(free * chips // block) if free > 0 else 0
    cached = _prefix_cache_blocks(serving, blocks, block)
    blocks -= 0 if cached == math.inf else int(cached)
    if blocks * serving.block_tokens < context // 8 or free <= 0:
        raise CapacityExceeded(_does_not_fit(cluster, model, policy, weights + act, serving, draft))
    return MemoryPlan(chip.memory.capacity_bytes, weights, act, block, blocks,
                      cached * serving.block_tokens, draft_weights)


def kv_layout(model: ModelSpec, cost: CostModel) -> dict | None:
    """How a model whose KV cache differs in kind keeps it, for the summary (None for plain K and V in every
    layer): the bytes a token's KV takes over the replica (every chip's copy counted) as the blocks hold it, and,
    with local layers, what the layers need for a token past the window (the global layers' alone).

    Blocks hold every layer's KV for the whole context, local layers' too: exact up to the window, an upper
    bound past it (vLLM's allocator before its hybrid one; the decode steps read only the window's)."""
    if not model.mla and model.sliding_window_pattern is None:
        return None
    local = model.layers - model.global_layers if model.sliding_window_pattern is not None else 0
    return {"kind": "latent" if model.mla else "local-global",
            "kv_bytes_per_token": model.layers * cost.kv_token_layer_bytes, "kv_copies": cost.kv_replication,
            "local_layers": local, "window": model.sliding_window if local else None,
            "kv_bytes_per_token_past_window": model.global_layers * cost.kv_token_layer_bytes}


def _draft(cluster: ClusterSpec, policy: QuantPolicy, serving: ServingConfig,
           model: ModelSpec | None) -> tuple[float, float]:
    """(weight bytes per chip, KV bytes per token over the replica) of a speculative draft model."""
    if not serving.speculative or serving.draft_model is None:
        return 0.0, 0.0
    draft = CostModel(resolved_draft(serving, model), cluster.server, cluster.tp, policy)
    return draft.weight_bytes(), draft.model.layers * draft.kv_token_layer_bytes


def resolved_draft(serving: ServingConfig, model: ModelSpec | None) -> ModelSpec:
    """The draft model serving.draft_model names: the core takes it resolved, never looks the name up."""
    if model is None or model.name != serving.draft_model:
        raise InvalidSpec("draft_model", f"{serving.draft_model!r} must be resolved against the run's catalogue "
                                         "before the twin is built (twin.replay.RunSpec.build does)")
    return model


def _prefix_cache_blocks(serving: ServingConfig, blocks: int, block_bytes: float) -> float:
    """KV blocks set aside for the prefix cache's device tier (math.inf: unbounded, nothing set aside)."""
    if serving.prefix_cache == "none":
        return 0
    if serving.prefix_cache_gb is None:
        return int(blocks * serving.prefix_cache_share)
    if serving.prefix_cache_gb == math.inf:
        return math.inf
    return int(serving.prefix_cache_gb * GB // block_bytes)


def _does_not_fit(cluster: ClusterSpec, model: ModelSpec, policy: QuantPolicy, need: float,
                  serving: ServingConfig, draft: ModelSpec | None) -> str:
    chip = cluster.server.chip
    msg = (f"{model.name} ({policy.weights.name} weights) needs {need / GIB:.1f} GiB per chip for weights and "
           f"activations at tp={cluster.tp}, plus room for KV; {chip.name} has "
           f"{chip.memory.capacity_bytes / GIB:.1f} GiB of {chip.memory.label}")
    return msg + ". " + _what_fits(cluster, model, policy, serving, draft)


def _what_fits(cluster: ClusterSpec, model: ModelSpec, policy: QuantPolicy, serving: ServingConfig,
               draft: ModelSpec | None) -> str:
    server = cluster.server
    options = []
    for tp in (t for t in range(cluster.tp + 1, server.chips + 1) if server.chips % t == 0):
        if _fits(ClusterSpec(server, cluster.servers, tp), model, policy, serving, draft):
            options.append(f"--tp {tp}")
            break
    pp = _smallest_pp(cluster, model, policy, serving, draft)
    if pp is not None:
        options.append(pp)
    for name, scheme in WEIGHT_SCHEMES.items():
        if scheme.bits < policy.weights.bits and _fits(cluster, model, QuantPolicy(scheme, policy.kv), serving, draft):
            options.append(f"--weights {name}")
            break
    return ("What would fit: " + " or ".join(options) + ".") if options else \
        f"Nothing fits on one {server.name} server: use a server with more memory per chip."


MAX_PP_SUGGESTED = 64  # stages the "what would fit" search tries


def _smallest_pp(cluster: ClusterSpec, model: ModelSpec, policy: QuantPolicy, serving: ServingConfig,
                 draft: ModelSpec | None) -> str | None:
    """The fewest pipeline stages of this tp that fit (with the servers they need), as options to pass."""
    if serving.speculative:
        return None  # a pipeline runs without speculation
    per = cluster.server.chips
    for pp in range(cluster.pp + 1, min(model.layers, MAX_PP_SUGGESTED) + 1):
        chips = cluster.tp * pp
        if (chips <= per and per % chips) or (chips > per and chips % per):
            continue
        servers = max(cluster.servers, -(-chips // per))
        if _fits(ClusterSpec(cluster.server, servers, cluster.tp, pp=pp, ep=cluster.ep), model, policy, serving, draft):
            return f"--pp {pp}" + (f" --servers {servers}" if servers > cluster.servers else "")
    return None


def _fits(cluster, model, policy, serving, draft) -> bool:
    try:
        plan_memory(cluster, model, policy, serving, draft)
        return True
    except CapacityExceeded:
        return False
