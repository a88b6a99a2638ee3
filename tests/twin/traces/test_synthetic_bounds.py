"""Synthetic sources refuse what numpy cannot draw: lengths beyond 32 bits, a CV whose Gamma shape
over- or underflows; a limit as large as a uint64 keeps every request."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import InvalidSpec
from twin.traces.arrivals import gaps
from twin.traces.lengths import TokenRange, parse_range
from twin.traces.synthetic import parse_synthetic
from twin.traces.transforms import limit


@pytest.mark.parametrize("text, fragment", [
    ("1.." + "9" * 20, "at most 2,147,483,647 tokens, got 99,999,999,999,999,999,999"),
    (str(2 ** 31), "at most 2,147,483,647 tokens, got 2,147,483,648"),
])
def test_lengths_beyond_the_token_bound_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(InvalidSpec, match="^synthetic.input: " + fragment):
        parse_range(text, "synthetic.input")


def test_the_largest_length_is_drawn() -> None:
    top = 2 ** 31 - 1
    assert TokenRange(top - 1, top).sample(4, np.random.default_rng(0)).max() <= top


@pytest.mark.parametrize("cv", [1e308, 1e-300, 1001.0])
def test_a_cv_outside_its_range_is_refused(cv: float) -> None:
    with pytest.raises(InvalidSpec, match=r"^cv: must be in \[0.001, 1000\]"):
        gaps("gamma", 4, 5.0, cv, np.random.default_rng(0))
    with pytest.raises(InvalidSpec, match=r"^synthetic.cv: must be in \[0.001, 1000\]"):
        parse_synthetic(f"synthetic:gamma?cv={cv}&rate=5&n=10&input=10&output=5")


def test_a_limit_of_2_to_the_64_minus_1_keeps_every_request() -> None:
    assert limit(range(5), 2 ** 64 - 1) == [0, 1, 2, 3, 4]
