"""Requests longer than the context a replica serves: rejected and counted, or clamped and counted.

A request needs input + output tokens of context. Past the model's trained context (or the
limit a user sets, e.g. to run the long sequences of the papers' figures) it is, by default,
rejected with the reason recorded; with ``clamp`` the output is cut first (the prompt is what
the user sent), then the prompt, each down to one token. Nothing is cut without being counted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from twin.metrics import RequestRecord
from twin.serving.request import TraceRequest


def clamp_lengths(input_tokens: int, output_tokens: int, limit: int) -> tuple[int, int]:
    """(input, output) cut to fit `limit` tokens: the output first, down to 1, then the input."""
    output = max(1, min(output_tokens, limit - input_tokens))
    return max(1, min(input_tokens, limit - output)), output


@dataclass
class ContextLimit:
    """The longest request a twin serves, what it does with longer ones, and how many it met."""

    limit: int
    on_long: str = "reject"  # reject | clamp
    rejected: int = 0
    clamped: int = 0

    def fit(self, spec: TraceRequest) -> TraceRequest | None:
        """The request as it will run, or None if it is rejected."""
        if spec.input_tokens + spec.output_tokens <= self.limit:
            return spec
        if self.on_long == "reject":
            self.rejected += 1
            return None
        self.clamped += 1
        i, o = clamp_lengths(spec.input_tokens, spec.output_tokens, self.limit)
        return dataclasses.replace(spec, input_tokens=i, output_tokens=o)

    def rejection(self, spec: TraceRequest) -> RequestRecord:
        reason = (f"needs {spec.input_tokens + spec.output_tokens} tokens of context "
                  f"({spec.input_tokens} in + {spec.output_tokens} out), the limit is {self.limit}")
        return RequestRecord(spec.request_id, -1, "rejected", spec.arrival_s, spec.input_tokens,
                             spec.output_tokens, None, None, 0, reason)

    def counts(self) -> dict:
        return {"max_context": self.limit, "on_long_request": self.on_long,
                "too_long_rejected": self.rejected, "clamped": self.clamped}
