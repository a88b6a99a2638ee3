"""Synthetic traces from a source string: an arrival process over a length distribution.

Syntax (``load_trace`` recognises the ``synthetic:`` prefix)::

    synthetic:<process>?key=value&key=value...

    process      poisson | gamma
    rate         mean arrival rate, requests/s (required)
    n            number of requests            } at least one; with both,
    duration_s   generate arrivals before this } whichever ends first
    cv           inter-arrival coefficient of variation (gamma only, required there)
    seed         integer seed (default 0)
    input        prompt tokens: 1024 (fixed) or 128..2048 (uniform, inclusive)
    output       output tokens, same syntax          } input+output, or lengths
    lengths      path or built-in trace name whose (input, output) pairs are sampled

e.g. ``synthetic:poisson?rate=5&n=1000&input=1024&output=1024&seed=1`` or
``synthetic:gamma?cv=3&rate=2&n=500&lengths=path/to/sharegpt.csv``.
Values are percent-decoded (write ``%26`` for an ``&`` inside a path).
Arrival and length draws use separate seeded streams, so changing the rate
does not change the lengths drawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from twin.errors import InvalidSpec, quote
from twin.serving.request import TraceRequest
from twin.traces.arrivals import MAX_CV, MIN_CV, PROCESSES, arrival_times, gaps
from twin.traces.lengths import EmpiricalLengths, TokenRange, UniformLengths, parse_range

if TYPE_CHECKING:
    import numpy as np

PREFIX = "synthetic:"
KEYS = ("rate", "n", "duration_s", "cv", "seed", "input", "output", "lengths")


@dataclass(frozen=True)
class SyntheticSpec:
    """A parsed synthetic source. Either ``lengths`` or both ``input`` and ``output``."""

    process: str
    rate_rps: float
    n: int | None = None
    duration_s: float | None = None
    cv: float = 1.0
    seed: int = 0
    input: TokenRange | None = None
    output: TokenRange | None = None
    lengths: str | None = None

    def __post_init__(self) -> None:
        if self.process not in PROCESSES:
            raise InvalidSpec("synthetic.process", f"must be one of {', '.join(PROCESSES)}, got {quote(self.process)}")
        if not 0 < self.rate_rps < float("inf"):
            raise InvalidSpec("synthetic.rate", f"must be a finite number > 0 requests/s, got {self.rate_rps}")
        if not MIN_CV <= self.cv <= MAX_CV:
            raise InvalidSpec("synthetic.cv", f"must be in [{MIN_CV}, {MAX_CV:g}], got {self.cv}")
        if self.n is None and self.duration_s is None:
            raise InvalidSpec("synthetic.n", "give n=<requests> or duration_s=<seconds>")
        if self.n is not None and self.n < 1:
            raise InvalidSpec("synthetic.n", f"must be >= 1, got {self.n}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise InvalidSpec("synthetic.duration_s", f"must be > 0, got {self.duration_s}")
        if self.seed < 0:
            raise InvalidSpec("synthetic.seed", f"must be >= 0, got {self.seed}")
        if self.process == "poisson" and self.cv != 1.0:
            raise InvalidSpec("synthetic.cv", "a Poisson process has cv 1; use synthetic:gamma?cv=...")
        has_ranges = self.input is not None or self.output is not None
        if (self.lengths is not None) == has_ranges or (has_ranges and None in (self.input, self.output)):
            raise InvalidSpec("synthetic.lengths",
                              "give either input= and output=, or lengths=<file or built-in trace>")


def is_synthetic(source: str) -> bool:
    return source.startswith(PREFIX)


def parse_synthetic(source: str) -> SyntheticSpec:
    """Parse ``synthetic:<process>?k=v&...``; InvalidSpec names the key at fault."""
    if not is_synthetic(source):
        raise InvalidSpec("synthetic", f"source must start with {PREFIX!r}, got {quote(source)}")
    process, _, query = source[len(PREFIX):].partition("?")
    if process not in PROCESSES:
        raise InvalidSpec("synthetic.process", f"must be one of {', '.join(PROCESSES)}, got {quote(process)}")
    params = _query(query)
    if process == "gamma" and "cv" not in params:
        raise InvalidSpec("synthetic.cv", "gamma needs cv=<coefficient of variation>")
    return SyntheticSpec(
        process=process,
        rate_rps=_number(params, "rate", float, None),
        n=_number(params, "n", int, None),
        duration_s=_number(params, "duration_s", float, None),
        cv=_number(params, "cv", float, 1.0),
        seed=_number(params, "seed", int, 0),
        input=parse_range(params["input"], "synthetic.input") if "input" in params else None,
        output=parse_range(params["output"], "synthetic.output") if "output" in params else None,
        lengths=params.get("lengths"),
    )


def _query(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise InvalidSpec("synthetic", f"expected key=value, got {quote(item)}")
        if key not in KEYS:
            raise InvalidSpec(f"synthetic.{key}", f"unknown key; known: {', '.join(KEYS)}")
        if key in params:
            raise InvalidSpec(f"synthetic.{key}", "given twice")
        params[key] = unquote(value)  # not unquote_plus: '+' is legal in file paths
    if "rate" not in params:
        raise InvalidSpec("synthetic.rate", "required: mean arrival rate in requests/s, e.g. rate=5")
    return params


def _number(params: dict[str, str], key: str, kind: type, default):
    if key not in params:
        return default
    try:
        return kind(params[key])
    except ValueError:
        raise InvalidSpec(f"synthetic.{key}", f"expected {kind.__name__}, got {quote(params[key])}") from None


CHUNK = 65_536  # requests drawn per numpy call when streaming: bounded memory, vectorised draws


def generate(spec: SyntheticSpec, empirical: EmpiricalLengths | None = None) -> list[TraceRequest]:
    """The requests of ``spec``; ``empirical`` holds the loaded ``lengths=`` source, if any."""
    return list(iter_synthetic(spec, empirical))


def iter_synthetic(spec: SyntheticSpec, empirical: EmpiricalLengths | None = None,
                  chunk: int = CHUNK) -> Iterator[TraceRequest]:
    """The requests of ``spec`` drawn ``chunk`` at a time, so a long trace streams in flat memory.

    Lengths are drawn per chunk (inputs, then outputs), so traces of up to ``chunk`` requests
    are those one draw would give, and longer ones depend on ``chunk`` as well as the seed.
    """
    import numpy as np  # here, not at the top: reading a trace file never loads numpy
    arrival_rng, length_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(2))
    if spec.lengths is not None and empirical is None:
        raise InvalidSpec("synthetic.lengths", "the lengths source was not loaded")
    lengths = empirical if spec.lengths is not None else UniformLengths(spec.input, spec.output)
    i = 0
    for times in _arrival_chunks(spec, arrival_rng, chunk):
        inputs, outputs = lengths.sample(len(times), length_rng)
        for t, a, b in zip(times.tolist(), inputs.tolist(), outputs.tolist()):
            yield TraceRequest(request_id=i, arrival_s=t, input_tokens=a, output_tokens=b)
            i += 1


def last_request(spec: SyntheticSpec, chunk: int = CHUNK) -> TraceRequest:
    """The last request `iter_synthetic(spec, chunk=chunk)` gives (no lengths= source), drawn with the
    same generators chunk by chunk but without making the others: a tenth of the time."""
    import numpy as np
    if spec.lengths is not None:
        raise InvalidSpec("synthetic.lengths", "the lengths source was not loaded")
    arrival_rng, length_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(2))
    lengths = UniformLengths(spec.input, spec.output)
    count, last = 0, None
    for times in _arrival_chunks(spec, arrival_rng, chunk):
        inputs, outputs = lengths.sample(len(times), length_rng)
        if len(times):
            count, last = count + len(times), (times.tolist()[-1], inputs.tolist()[-1], outputs.tolist()[-1])
    if last is None:
        raise InvalidSpec("synthetic", "the source gives no requests")
    return TraceRequest(request_id=count - 1, arrival_s=last[0], input_tokens=last[1], output_tokens=last[2])


def _arrival_chunks(spec: SyntheticSpec, rng: np.random.Generator, chunk: int) -> Iterator[np.ndarray]:
    import numpy as np
    if spec.duration_s is not None:  # bounded by time: drawn whole (the count is not known ahead)
        times = arrival_times(spec.process, spec.rate_rps, rng, cv=spec.cv, n=spec.n, duration_s=spec.duration_s)
        for k in range(0, len(times), chunk):
            yield times[k:k + chunk]
        return
    first = arrival_times(spec.process, spec.rate_rps, rng, cv=spec.cv, n=min(spec.n, chunk))
    yield first
    left, last = spec.n - len(first), first[-1]
    while left > 0:
        g = gaps(spec.process, min(left, chunk), spec.rate_rps, spec.cv, rng)
        times = np.cumsum(np.concatenate(([last], g)))[1:]  # added one by one from the last, as one cumsum would
        yield times
        left, last = left - len(times), times[-1]
