"""Synthetic arrival processes: Poisson, and Gamma renewal with a target CV.

A renewal process with Gamma inter-arrival gaps of shape k = 1/cv^2 and mean
1/rate has coefficient of variation cv: cv=1 is Poisson, cv>1 is bursty (the
Azure code trace measures 13.2), cv<1 is smoother than random.
Arrivals start at t=0 (like a loaded trace) and the first gap follows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twin.errors import InvalidSpec, quote

if TYPE_CHECKING:
    import numpy as np

PROCESSES = ("poisson", "gamma")
# Gamma shape is 1/cv^2: beyond these the shape overflows or vanishes in floating point (cv=1e308),
# and the gaps are all but constant (cv < 0.001) or all but zero (cv > 1000; Azure code measures 13.2).
MIN_CV, MAX_CV = 1e-3, 1e3


def gaps(process: str, count: int, rate_rps: float, cv: float, rng: np.random.Generator) -> np.ndarray:
    """``count`` inter-arrival gaps in seconds with mean 1/rate_rps."""
    if not rate_rps > 0:
        raise InvalidSpec("rate", f"must be > 0 requests/s, got {rate_rps}")
    if process == "poisson":
        return rng.exponential(1.0 / rate_rps, size=count)
    if process == "gamma":
        if not MIN_CV <= cv <= MAX_CV:
            raise InvalidSpec("cv", f"must be in [{MIN_CV}, {MAX_CV:g}], got {cv}")
        shape = 1.0 / cv**2
        return rng.gamma(shape, 1.0 / (rate_rps * shape), size=count)
    raise InvalidSpec("process", f"must be one of {', '.join(PROCESSES)}, got {quote(process)}")


def arrival_times(process: str, rate_rps: float, rng: np.random.Generator, *, cv: float = 1.0,
                  n: int | None = None, duration_s: float | None = None) -> np.ndarray:
    """Arrival times from 0: ``n`` of them, or all before ``duration_s``, or whichever ends first."""
    import numpy as np  # here, not at the top: reading a trace file never loads numpy
    if n is None and duration_s is None:
        raise InvalidSpec("n", "give n (requests) or duration_s (seconds), or both")
    if n is not None and n < 1:
        raise InvalidSpec("n", f"must be >= 1, got {n}")
    if duration_s is not None and not duration_s > 0:
        raise InvalidSpec("duration_s", f"must be > 0, got {duration_s}")
    if duration_s is None:
        return np.concatenate(([0.0], np.cumsum(gaps(process, n - 1, rate_rps, cv, rng))))
    return _until(process, rate_rps, cv, rng, n, duration_s)


def _until(process: str, rate_rps: float, cv: float, rng: np.random.Generator,
           n: int | None, duration_s: float) -> np.ndarray:
    import numpy as np
    # Draw in chunks sized from the expected count so one draw nearly always suffices.
    chunk = int(rate_rps * duration_s * 1.2) + 16
    times = [np.zeros(1)]
    last = 0.0
    while last < duration_s and (n is None or sum(map(len, times)) < n):
        more = last + np.cumsum(gaps(process, chunk, rate_rps, cv, rng))
        times.append(more)
        last = float(more[-1])
    arrivals = np.concatenate(times)
    arrivals = arrivals[arrivals < duration_s]
    return arrivals if n is None else arrivals[:n]
