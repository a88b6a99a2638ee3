"""Percentiles in bounded memory: exact while few, within the stated relative error after."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.sketch import RELATIVE_ERROR, Quantiles

QS = [0, 1, 25, 50, 90, 99, 99.9, 100]


@pytest.mark.parametrize("dist", ["lognormal", "exponential", "bimodal", "with_zeros"])
def test_sketch_percentiles_are_within_the_stated_error_of_numpy(dist):
    rng = np.random.default_rng(7)
    n = 30_000
    values = {"lognormal": rng.lognormal(-2, 1.5, n), "exponential": rng.exponential(0.05, n),
              "bimodal": np.concatenate([rng.normal(0.02, 0.001, n // 2), rng.normal(3.0, 0.2, n - n // 2)]),
              "with_zeros": np.concatenate([np.zeros(n // 10), rng.lognormal(0, 1, n - n // 10)])}[dist]
    values = np.abs(values)
    q = Quantiles(exact_limit=1000)  # forces the buckets
    for v in values.tolist():
        q.add(v)
    assert not q.exact and q.count == n
    exact = np.percentile(values, QS)
    got = q.percentiles(QS)
    for e, g in zip(exact, got):
        assert abs(g - e) <= RELATIVE_ERROR * e + 1e-12
    assert q.max == values.max() and q.total / q.count == pytest.approx(values.mean(), rel=1e-12)


def test_few_values_are_exact():
    values = np.random.default_rng(1).lognormal(0, 1, 999)
    q = Quantiles(exact_limit=1000)
    for v in values.tolist():
        q.add(v)
    assert q.exact
    assert q.percentiles(QS) == [float(x) for x in np.percentile(values, QS)]


def test_bucket_memory_depends_on_the_range_not_the_count():
    rng = np.random.default_rng(2)
    q = Quantiles(exact_limit=100)
    bound = math.ceil(math.log(10.0 / 0.01) / math.log(q.gamma)) + 1  # buckets spanning three decades
    for n in (20_000, 400_000):
        for v in rng.uniform(0.01, 10.0, n).tolist():
            q.add(v)
        assert len(q._buckets) <= bound
