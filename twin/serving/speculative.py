"""Speculative decoding: a draft proposes K tokens, the target verifies them in one pass.

Acceptance (Leviathan et al. 2023): each drafted token is accepted with probability A,
independently, until the first rejection; the target's verify pass then adds one token of
its own (the correction, or a bonus token after K acceptances). Tokens per step are
min(G, K) + 1 with G geometric, so their mean is (1 - A^(K+1)) / (1 - A). A is fixed
(`--acceptance A`) or drawn per request from Beta(a, b) (`--acceptance-dist a,b`), seeded
per request id so that both fidelities and any replay order see the same draws.

Costs come from the cost model, not from a speed-up factor:
- verify: one target step whose sequences each carry K+1 query tokens attending their
  context: bandwidth-bound decode pays for the weights once, so it is almost free on
  an LPU, and costs MACs where a step is compute-bound;
- draft: K decode steps of a smaller catalogue model on the same chips (its weights and
  KV take memory), or of the target with a share of its layers skipped (self-speculative,
  as SWIFT: no extra memory, the draft shares the target's KV).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING
from dataclasses import dataclass

from twin.errors import InvalidSpec
from twin.serving.cost import CostModel, StepShape

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class SpeculativeConfig:
    """`k` drafted tokens per step; acceptance fixed or Beta(a, b); a draft model or a layer-skip share."""

    k: int
    acceptance: float | None = 0.7
    beta: tuple[float, float] | None = None
    draft_model: str | None = None
    draft_skip: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.k, int) and 1 <= self.k <= 16):
            raise InvalidSpec("speculative", f"K must be an integer in [1, 16], got {self.k!r}")
        if self.beta is None and not (self.acceptance is not None and 0 <= self.acceptance <= 1):
            raise InvalidSpec("acceptance", f"must be in [0, 1], got {self.acceptance!r}")
        if self.beta is not None and not (len(self.beta) == 2 and min(self.beta) > 0):
            raise InvalidSpec("acceptance_dist", f"Beta a,b must both be > 0, got {self.beta!r}")
        if (self.draft_model is None) == (self.draft_skip is None):
            raise InvalidSpec("draft_model", "give a draft model or a draft layer-skip share (one of the two)")
        if self.draft_skip is not None and not 0 < self.draft_skip < 1:
            raise InvalidSpec("draft_skip", f"must be in (0, 1), got {self.draft_skip!r}")


def expected_tokens(a: float, k: int) -> float:
    """Mean tokens one speculative step produces: (1 - A^(K+1)) / (1 - A); K+1 at A = 1."""
    return float(k + 1) if a >= 1 else (1 - a ** (k + 1)) / (1 - a)


def tokens_variance(a: float, k: int) -> float:
    """Variance of the tokens per step (min(G, K) + 1, P(G >= j) = A^j)."""
    mean = expected_tokens(a, k)
    second = sum((2 * j - 1) * a ** (j - 1) for j in range(1, k + 2))  # E[X^2] = sum (2j-1) P(X >= j)
    return second - mean * mean


class Acceptance:
    """Seeded draws of tokens per step, per request."""

    def __init__(self, config: SpeculativeConfig):
        self.config = config

    def rate(self, request_id: int) -> float:
        c = self.config
        if c.beta is None:
            return float(c.acceptance)
        return float(self._rng(request_id, 1).beta(*c.beta))

    def steps(self, request_id: int, tokens: int) -> np.ndarray:
        """Cumulative tokens after each step, until `tokens` are produced (the last step is cut to fit)."""
        import numpy as np  # here, not at the top: a replay without speculative decoding never loads numpy
        a, k = self.rate(request_id), self.config.k
        if a >= 1:
            per = np.full(tokens, k + 1, dtype=np.int64)
        elif a <= 0:
            per = np.ones(tokens, dtype=np.int64)
        else:
            per = np.minimum(self._rng(request_id, 2).geometric(1 - a, size=tokens) - 1, k) + 1
        cum = np.cumsum(per)
        n = int(np.searchsorted(cum, tokens)) + 1
        cum = cum[:n]
        cum[-1] = tokens
        return cum

    def _rng(self, request_id: int, stream: int) -> np.random.Generator:
        import numpy as np
        return np.random.default_rng([self.config.seed, request_id, stream, zlib.crc32(b"speculative")])


def verify_shape(decode: StepShape, k: int) -> StepShape:
    """A verify step: each of `decode_seqs` sequences carries K+1 query tokens over its context.

    The first query token is the ordinary decode token (it reads the history once); the
    other K are priced as prompt tokens attending the context plus the drafted tokens
    before them, and every one of the K+1 positions is sampled.
    """
    n, c = decode.decode_seqs, decode.decode_context
    return StepShape(decode_seqs=n, decode_context=c, prefill_tokens=n * k,
                     prefill_pairs=k * c + n * k * (k + 1) / 2, outputs=n * (k + 1))


class DraftCost:
    """Time of the K draft steps and of the draft's prefill, for a draft model or the target with layers skipped."""

    def __init__(self, target: CostModel, draft: CostModel | None, skip: float | None, k: int):
        self.target, self.draft, self.skip, self.k = target, draft, skip, k

    def follow(self, target: CostModel) -> DraftCost:
        """The same draft once the target's policy changes: a layer-skipping draft runs the target's new
        layers, a draft model is quantized as the target now is (as `equip` builds it)."""
        draft = self.draft if self.draft is None or self.draft.policy == target.policy else \
            CostModel(self.draft.model, target.server, target.tp, target.policy, target.routing)
        return DraftCost(target, draft, self.skip, self.k)

    def step_time(self, shape: StepShape) -> float:
        """One draft decode (or prefill) step of the given shape."""
        if self.draft is not None:
            return self.draft.step_time(shape)
        t = self.target
        if shape.tokens == 0:
            return 0.0
        return self.draft_layers() * t.layer(shape).time_s + t.head_time(shape) + t.server.host.step_overhead_s

    def drafts_time(self, decode: StepShape) -> float:
        """K draft steps over the batch, each context one drafted token longer per sequence."""
        n = decode.decode_seqs
        return sum(self.step_time(StepShape(decode_seqs=n, decode_context=decode.decode_context + j * n,
                                            outputs=n)) for j in range(self.k))

    def prefill_time(self, prefill: StepShape) -> float:
        """The draft model must prefill every prompt too; a layer-skipping draft reuses the target's KV."""
        if self.draft is None or prefill.prefill_tokens == 0:
            return 0.0
        return self.draft.step_time(StepShape(prefill_tokens=prefill.prefill_tokens,
                                              prefill_pairs=prefill.prefill_pairs,
                                              prefill_past=prefill.prefill_past))

    def draft_layers(self) -> int:
        """Layers a draft step runs."""
        if self.draft is not None:
            return self.draft.model.layers
        return round(self.target.model.layers * (1 - self.skip))

    def weight_bytes(self) -> float:
        """Extra resident weights per chip."""
        return self.draft.weight_bytes() if self.draft is not None else 0.0

    def kv_token_bytes(self) -> float:
        """Extra KV bytes per token (whole replica) the draft keeps."""
        return self.draft.kv_token_layer_bytes * self.draft.model.layers if self.draft is not None else 0.0


def step_time(target: CostModel, drafts: DraftCost, decode: StepShape) -> tuple[float, float]:
    """(draft time, verify time) of one speculative step of a decode batch."""
    return drafts.drafts_time(decode), target.step_time(verify_shape(decode, drafts.k))


def tpot_gain(target: CostModel, drafts: DraftCost, a: float, context: int = 1024) -> float:
    """Plain decode time per token over speculative time per token for one sequence at `context`
    tokens (> 1: speculation pays). The run-against-run figure needs two replays; this is its
    single-sequence estimate from the same cost model."""
    decode = StepShape(decode_seqs=1, decode_context=context, outputs=1)
    draft_s, verify_s = step_time(target, drafts, decode)
    return target.step_time(decode) * expected_tokens(a, drafts.k) / (draft_s + verify_s)
