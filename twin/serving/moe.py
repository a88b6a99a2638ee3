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
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.errors import InvalidSpec

ROUTINGS = ("uniform", "skewed", "active-only")


@dataclass(frozen=True)
class MoeRouting:
    kind: str = "uniform"
    zipf_s: float = 1.0  # Zipf exponent of expert popularity, for "skewed"

    def __post_init__(self) -> None:
        if self.kind not in ROUTINGS:
            raise InvalidSpec("moe_routing", f"must be one of {', '.join(ROUTINGS)}, got {self.kind!r}")
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
