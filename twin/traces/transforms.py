"""Pure transforms over request sequences: time scaling, windowing, thinning, clamping.

Each takes an iterable of ``TraceRequest`` and returns a new list; none mutates
its input and none renumbers (``renumber`` does that once, at the end).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from itertools import islice
from operator import attrgetter

from twin.errors import InvalidSpec
from twin.serving.context import clamp_lengths
from twin.serving.request import TraceRequest
from twin.traces.arrivals import MAX_CV, MIN_CV, arrival_times

_ARRIVAL = attrgetter("arrival_s")
# Gamma shape = 1/cv^2, so the arrival processes' cv bounds give these.
MIN_BURSTINESS, MAX_BURSTINESS = MAX_CV ** -2, MIN_CV ** -2


def normalise(requests: Iterable[TraceRequest]) -> list[TraceRequest]:
    """Stable sort by arrival, rebase so the first arrives at 0.0, ids 0..n-1 in that order."""
    ordered = sorted(requests, key=_ARRIVAL)  # sorted() is stable: ties keep file order
    return normalise_from(ordered, ordered[0].arrival_s if ordered else 0.0)


def normalise_from(ordered: list[TraceRequest], origin: float) -> list[TraceRequest]:
    """Requests already in arrival order, rebased so `origin` is t=0, ids 0..n-1."""
    if origin == 0.0:
        return renumber(ordered)  # already rebased (most files): keep the objects, skip a copy
    return [_with(r, request_id=i, arrival_s=r.arrival_s - origin) for i, r in enumerate(ordered)]


def renumber(requests: Iterable[TraceRequest]) -> list[TraceRequest]:
    """Ids 0..n-1 in sequence order (keeps the simulator's ids dense after filtering)."""
    return [r if r.request_id == i else _with(r, request_id=i) for i, r in enumerate(requests)]


def speedup(requests: Iterable[TraceRequest], factor: float) -> list[TraceRequest]:
    """Divide every arrival time by ``factor`` (2.0 replays twice as fast)."""
    if not factor > 0:
        raise InvalidSpec("speedup", f"must be > 0, got {factor}")
    return [_with(r, arrival_s=r.arrival_s / factor) for r in requests]


def rate(requests: Iterable[TraceRequest], target_rps: float) -> list[TraceRequest]:
    """Rescale arrival times so the mean rate, count / (last - first), equals ``target_rps``."""
    if not target_rps > 0:
        raise InvalidSpec("rate_rps", f"must be > 0, got {target_rps}")
    items = list(requests)
    if len(items) < 2:
        return items
    span = items[-1].arrival_s - items[0].arrival_s
    if span <= 0:
        raise InvalidSpec("rate_rps", "the trace has no time span "
                                      "(all requests at one instant, e.g. a lengths-only file: give it arrivals with "
                                      "burstiness, --burstiness 1 for Poisson)")
    return speedup(items, target_rps * span / len(items))


def arrivals_at(requests: Iterable[TraceRequest], rate_rps: float, burstiness: float = 1.0,
                seed: int = 0) -> list[TraceRequest]:
    """The requests in order, their arrival times replaced by a renewal process from t=0.

    Gaps are Gamma with shape ``burstiness`` and mean 1/rate_rps, as vLLM's benchmark draws them
    for ``--request-rate`` with ``--burstiness`` (benchmarks/benchmark_serving.py): 1 is Poisson,
    below 1 burstier, above 1 smoother (the gaps' coefficient of variation is 1/sqrt(burstiness)).
    A lengths-only file has no times to rescale; this gives it some.
    """
    import numpy as np  # here, not at the top: reading a trace file never loads numpy
    if not MIN_BURSTINESS <= burstiness <= MAX_BURSTINESS:
        raise InvalidSpec("burstiness", f"must be in [{MIN_BURSTINESS:g}, {MAX_BURSTINESS:g}], got {burstiness}")
    items = list(requests)
    if not items:
        return items
    rng = np.random.default_rng([seed, 1])  # a stream of its own: --sample draws from default_rng(seed)
    process = "poisson" if burstiness == 1.0 else "gamma"
    times = arrival_times(process, rate_rps, rng, cv=burstiness ** -0.5, n=len(items)).tolist()
    return [_with(r, arrival_s=t) for r, t in zip(items, times)]


def window(requests: Iterable[TraceRequest], start_s: float = 0.0, end_s: float | None = None) -> list[TraceRequest]:
    """Requests with start_s <= arrival < end_s, shifted so ``start_s`` becomes t=0.

    Times shift by the window start, not by the first request in it, so the
    gap between the window opening and its first arrival is kept.
    """
    if start_s < 0 or (end_s is not None and end_s <= start_s):
        raise InvalidSpec("window", f"need 0 <= start_s < end_s, got start_s={start_s}, end_s={end_s}")
    return [_with(r, arrival_s=r.arrival_s - start_s) for r in requests if in_window(r.arrival_s, start_s, end_s)]


def in_window(t: float, start_s: float, end_s: float | None) -> bool:
    """Whether a time `t` (from the trace's start) lies in the window [start_s, end_s)."""
    return t >= start_s and (end_s is None or t < end_s)


def sample(requests: Iterable[TraceRequest], fraction: float, seed: int = 0) -> list[TraceRequest]:
    """Keep each request independently with probability ``fraction`` (seeded Bernoulli thinning)."""
    if not 0 < fraction <= 1:
        raise InvalidSpec("sample_fraction", f"must be in (0, 1], got {fraction}")
    items = list(requests)
    if fraction == 1:
        return items
    import numpy as np  # here, not at the top: reading a trace file never loads numpy
    keep = np.random.default_rng(seed).random(len(items)) < fraction
    return [r for r, kept in zip(items, keep.tolist()) if kept]


def limit(requests: Iterable[TraceRequest], n: int) -> list[TraceRequest]:
    """The first ``n`` requests."""
    if n < 0:
        raise InvalidSpec("limit", f"must be >= 0, got {n}")
    return list(islice(requests, min(n, sys.maxsize)))  # 2**64-1 (a proto's uint64) means "all of them"


def clamp(requests: Iterable[TraceRequest], max_context: int) -> tuple[list[TraceRequest], int]:
    """Fit input + output into ``max_context`` tokens; returns (requests, number clamped).

    The output is cut first (the prompt is what the user sent), down to 1 token; only
    then is the prompt cut, so every request keeps at least one input and one output token.
    The twin itself rejects over-long requests by default (twin.serving.context).
    """
    if max_context < 2:
        raise InvalidSpec("max_context", f"must be >= 2 (one input and one output token), got {max_context}")
    out, clamped = [], 0
    for r in requests:
        if r.input_tokens + r.output_tokens <= max_context:
            out.append(r)
            continue
        new_input, new_output = clamp_lengths(r.input_tokens, r.output_tokens, max_context)
        out.append(_with(r, input_tokens=new_input, output_tokens=new_output))
        clamped += 1
    return out, clamped


def _with(r: TraceRequest, **changes) -> TraceRequest:
    # Direct construction: dataclasses.replace is several times slower on 10^5 rows.
    fields = {"request_id": r.request_id, "arrival_s": r.arrival_s, "input_tokens": r.input_tokens,
              "output_tokens": r.output_tokens, "session_id": r.session_id, "block_ids": r.block_ids,
              "block_sizes": r.block_sizes}
    fields.update(changes)
    return TraceRequest(**fields)
