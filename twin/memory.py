"""Memory planning: do the weights fit, and how many KV blocks does each replica get?"""

from __future__ import annotations

from dataclasses import dataclass

from twin.config import ClusterSpec, ModelSpec, ServingConfig
from twin.errors import CapacityExceeded
from twin.quant.schemes import FP16_BYTES, QuantPolicy, WEIGHT_SCHEMES
from twin.serving.cost import CostModel
from twin.units import GB


@dataclass(frozen=True)
class MemoryPlan:
    capacity_bytes: float  # per chip
    weight_bytes: float  # per chip
    activation_bytes: float  # per chip, workspace for the largest step
    kv_block_bytes: float  # one block over the whole replica
    kv_blocks: int  # per replica

    @property
    def kv_bytes(self) -> float:
        return self.kv_blocks * self.kv_block_bytes


def plan_memory(cluster: ClusterSpec, model: ModelSpec, policy: QuantPolicy, serving: ServingConfig) -> MemoryPlan:
    tp, chip = cluster.tp, cluster.server.chip
    cost = CostModel(model, cluster.server, tp, policy)
    weights = cost.weight_bytes()
    step_tokens = max(model.max_context, serving.chunk_tokens)
    act = step_tokens * (2 * model.hidden + model.ffn) * FP16_BYTES / tp
    block = serving.block_tokens * model.layers * cost.kv_token_layer_bytes  # whole replica
    free = chip.memory.capacity_bytes - weights - act
    blocks = int(free * tp // block) if free > 0 else 0
    if blocks * serving.block_tokens < model.max_context // 8 or free <= 0:
        raise CapacityExceeded(_does_not_fit(cluster, model, policy, weights + act, serving))
    return MemoryPlan(chip.memory.capacity_bytes, weights, act, block, blocks)


def _does_not_fit(cluster: ClusterSpec, model: ModelSpec, policy: QuantPolicy, need: float,
                  serving: ServingConfig) -> str:
    chip = cluster.server.chip
    msg = (f"{model.name} ({policy.weights.name} weights) needs {need / GB:.1f} GB per chip for weights and "
           f"activations at tp={cluster.tp}, plus room for KV; {chip.name} has "
           f"{chip.memory.capacity_bytes / GB:.1f} GB")
    return msg + ". " + _what_fits(cluster, model, policy, serving)


def _what_fits(cluster: ClusterSpec, model: ModelSpec, policy: QuantPolicy, serving: ServingConfig) -> str:
    server = cluster.server
    options = []
    for tp in (t for t in range(cluster.tp + 1, server.chips + 1) if server.chips % t == 0):
        if _fits(ClusterSpec(server, cluster.servers, tp), model, policy, serving):
            options.append(f"--tp {tp}")
            break
    for name, scheme in WEIGHT_SCHEMES.items():
        if scheme.bits < policy.weights.bits and _fits(cluster, model, QuantPolicy(scheme, policy.kv), serving):
            options.append(f"--weights {name}")
            break
    return ("What would fit: " + " or ".join(options) + ".") if options else \
        f"Nothing fits on one {server.name} server: use a server with more memory per chip."


def _fits(cluster, model, policy, serving) -> bool:
    try:
        plan_memory(cluster, model, policy, serving)
        return True
    except CapacityExceeded:
        return False
