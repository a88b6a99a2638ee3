"""Request-length distributions for synthetic traces: fixed, uniform, or empirical.

An empirical distribution samples (input, output) pairs jointly, with
replacement, from a lengths file (ShareGPT, arXiv stats) or any trace, so the
correlation between prompt and answer length in the data is kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twin.errors import InvalidSpec, quote
from twin.traces.cells import MAX_TOKENS
from twin.serving.request import TraceRequest

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class TokenRange:
    """Uniform integer lengths in [low, high], both inclusive; low == high is fixed."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if not 1 <= self.low <= self.high:
            raise InvalidSpec("length", f"need 1 <= low <= high, got {self.low}..{self.high}")
        if self.high > MAX_TOKENS:  # as for a trace file's rows; numpy draws 64-bit integers
            raise InvalidSpec("length", f"at most {MAX_TOKENS:,} tokens, got {_digits(self.high)}")

    def sample(self, count: int, rng: np.random.Generator) -> np.ndarray:
        import numpy as np  # here, not at the top: reading a trace file never loads numpy
        if self.low == self.high:
            return np.full(count, self.low, dtype=np.int64)
        return rng.integers(self.low, self.high, size=count, endpoint=True)


@dataclass(frozen=True)
class UniformLengths:
    """Input and output lengths drawn independently from two ranges."""

    input: TokenRange
    output: TokenRange

    def sample(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self.input.sample(count, rng), self.output.sample(count, rng)


@dataclass(frozen=True, eq=False)
class EmpiricalLengths:
    """(input, output) pairs drawn jointly with replacement from observed requests."""

    inputs: np.ndarray
    outputs: np.ndarray

    @classmethod
    def from_requests(cls, requests: Iterable[TraceRequest]) -> EmpiricalLengths:
        import numpy as np
        pairs = np.array([(r.input_tokens, r.output_tokens) for r in requests], dtype=np.int64)
        if len(pairs) == 0:
            raise InvalidSpec("lengths", "the lengths source has no usable rows")
        return cls(pairs[:, 0], pairs[:, 1])

    def sample(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        picks = rng.integers(0, len(self.inputs), size=count)
        return self.inputs[picks], self.outputs[picks]


def _digits(n: int) -> str:
    """A token count as shown in an error: a number of 4,300 digits or more has no repr, so it is described."""
    try:
        return f"{n:,}"
    except ValueError:
        return "a number of more than 4,300 digits"


def parse_range(text: str, field: str) -> TokenRange:
    """``"1024"`` (fixed) or ``"128..2048"`` (uniform, inclusive)."""
    low, sep, high = text.partition("..")
    try:
        bounds = (int(low), int(high) if sep else int(low))
    except ValueError:
        raise InvalidSpec(field, f"expected an integer or low..high, got {quote(text)}") from None
    try:
        return TokenRange(*bounds)
    except InvalidSpec as error:
        raise InvalidSpec(field, error.message) from None
