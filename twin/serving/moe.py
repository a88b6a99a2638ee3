"""Mixture-of-experts routing: how many distinct experts' weights a batch step streams.

A decode step streams every expert that at least one of its tokens routes to. How many
that is depends on routing, which the twin cannot observe, so it is a named choice,
printed with every MoE result:

- ``uniform`` (default): each token picks its top-k experts uniformly and independently
  of the others; a step of T tokens touches E * (1 - (1 - k/E)^T) experts in expectation.
  The physically defensible choice for batched decode of unrelated requests.
- ``skewed``: expert popularity follows a Zipf law, p_i ∝ 1 / i^s (measured routing is
  skewed towards a few experts); a token routes to expert i with probability
  q_i = min(1, k * p_i), independently, so a step touches sum_i (1 - (1 - q_i)^T).
- ``active-only``: only top-k experts' bytes stream, whatever the batch: the assumption of
  simulators that treat an MoE as a dense model of its active parameters.

Under expert parallelism (``ep`` chips, each holding E / ep whole experts) the placement is a
named choice too: ``round-robin`` (expert i on chip i mod ep, as Megatron and vLLM lay them
out) or ``by-popularity`` (the most popular experts first, each to the chip with the least
expected load that still has room: every chip holds the same number of experts). The routing
then decides each chip's load, and the busiest chip sets the MoE layer's time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin.errors import InvalidSpec

ROUTINGS = ("uniform", "skewed", "active-only")
PLACEMENTS = ("round-robin", "by-popularity")


@dataclass(frozen=True)
class MoeRouting:
    kind: str = "uniform"
    zipf_s: float = 1.0  # Zipf exponent of expert popularity, for "skewed"
    placement: str = "round-robin"  # which chip holds which expert under expert parallelism

    def __post_init__(self) -> None:
        if self.kind not in ROUTINGS:
            raise InvalidSpec("moe_routing", f"must be one of {', '.join(ROUTINGS)}, got {self.kind!r}")
        if self.placement not in PLACEMENTS:
            raise InvalidSpec("expert_placement", f"must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}")
        if not self.zipf_s > 0:
            raise InvalidSpec("moe_zipf_s", f"must be > 0, got {self.zipf_s!r}")

    @property
    def label(self) -> str:
        return f"skewed (Zipf s={self.zipf_s:g})" if self.kind == "skewed" else self.kind

    def route_probabilities(self, experts: int, top_k: int) -> list[float]:
        """Probability that one token routes to each expert (they sum to top_k, before capping at 1)."""
        if self.kind != "skewed":
            return [top_k / experts] * experts
        weights = [1 / (i + 1) ** self.zipf_s for i in range(experts)]
        total = sum(weights)
        return [min(1.0, top_k * w / total) for w in weights]

    def active_experts(self, experts: int, top_k: int, tokens: int) -> float:
        """Expected distinct experts a step of `tokens` tokens streams."""
        if experts == 1 or tokens == 0:
            return float(min(experts, max(tokens, 1)))
        if self.kind == "active-only":
            return float(top_k)
        return sum(1 - (1 - q) ** tokens for q in self.route_probabilities(experts, top_k))

    # ---- expert parallelism -------------------------------------------------------------
    def placed(self, experts: int, top_k: int, ep: int) -> list[list[float]]:
        """Per chip of `ep`: the route probabilities of the experts it holds (experts // ep each)."""
        q = self.route_probabilities(experts, top_k)
        if self.placement == "round-robin":
            return [q[chip::ep] for chip in range(ep)]
        per = experts // ep
        chips: list[list[float]] = [[] for _ in range(ep)]
        for p in sorted(q, reverse=True):  # greedy: the next most popular to the least loaded chip with room
            min((c for c in chips if len(c) < per), key=sum).append(p)
        return chips

    def busiest_chip(self, experts: int, top_k: int, ep: int, tokens: int) -> tuple[float, float]:
        """(experts it streams, tokens its experts compute) on the chip that sets an MoE layer's time, for a
        step of `tokens` tokens over `ep` chips: the expected most experts any chip has active (each expert
        active independently, with probability 1 - (1 - q)^T) and the largest expected token load, T times
        the chip's share of the routes (at least one token per active expert)."""
        chips = self.placed(experts, top_k, ep)
        if tokens == 0:
            return 0.0, 0.0
        if self.kind == "active-only":  # the top-k experts, spread over distinct chips as far as they go
            active = float(math.ceil(top_k / ep))
        else:
            active = _expected_max_active([[1 - (1 - q) ** tokens for q in c] for c in chips])
        return active, max(max(tokens * sum(c) for c in chips), active)


def _expected_max_active(chips: list[list[float]]) -> float:
    """E[max over chips of the number of active experts], each chip's count a sum of independent Bernoulli
    trials (a Poisson-binomial, built term by term) and the chips independent: sum over j of P(max >= j)."""
    cdfs = []
    for probs in chips:
        dist = [1.0]
        for a in probs:
            dist = [(dist[j] if j < len(dist) else 0.0) * (1 - a) + (dist[j - 1] * a if j else 0.0)
                    for j in range(len(dist) + 1)]
        cdfs.append([sum(dist[:j + 1]) for j in range(len(dist))])
    most = max(len(c) for c in chips)
    return sum(1 - math.prod(cdf[j - 1] if j - 1 < len(cdf) else 1.0 for cdf in cdfs) for j in range(1, most + 1))
