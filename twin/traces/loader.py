"""The single entry point: ``load_trace(source, options) -> LoadedTrace``.

A source is a built-in trace name (``BUILTIN_TRACES``), a file path, or a
``synthetic:`` string (see ``twin.traces.synthetic``). Reading sorts arrivals
stably, rebases the first to t=0 and numbers requests 0..n-1; then the options
apply in a fixed order:

    window (trace seconds) -> sample -> limit -> speedup | rate -> clamp -> renumber

A rate rescales a timed trace's arrivals (its burst pattern kept); given a burstiness, or
for a lengths-only file that has no times, it draws Gamma/Poisson arrivals at that rate.

so a window is given in the trace's own time, and the rate target is met by
the requests actually replayed. Request ids are always the final position
(dense 0..n-1 in arrival order); a trace's own id column (Splitwise
``request_id``) is not kept, because thinning and windowing would leave gaps.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from twin.errors import InvalidSpec, TraceFormatError, UnknownName
from twin.serving.request import TraceRequest
from twin.traces import transforms as tf
from twin.traces.builtin import BUILTIN_TRACES
from twin.traces.formats import ColumnMapping
from twin.traces.lengths import EmpiricalLengths
from twin.traces.prefix import ragpulse_sizes, with_prefix_blocks
from twin.traces import servegen
from twin.traces.readers import BAD_ROW_POLICIES, BadRows, detect_format, stream_requests, text_lines
from twin.traces.synthetic import (SyntheticSpec, generate, is_synthetic, iter_synthetic, last_request,
                                   parse_synthetic)


@dataclass(frozen=True)
class TraceOptions:
    """How to read a trace and what to do to it. Defaults read the file unchanged.

    ``fmt``/``mapping`` also apply to the ``lengths=`` file of a synthetic source.
    """

    fmt: str | None = None  # preset name, or "csv"/"jsonl" with a mapping; None detects
    mapping: ColumnMapping | None = None
    on_bad_row: str = "raise"  # "raise" | "skip" (drop and count)
    window_start_s: float = 0.0
    window_end_s: float | None = None
    sample_fraction: float = 1.0
    sample_seed: int = 0
    limit: int | None = None
    speedup: float = 1.0
    rate_rps: float | None = None  # target mean rate; excludes speedup
    # Gamma shape of arrivals drawn at rate_rps (1.0 = Poisson), seeded by sample_seed. None: a timed trace
    # keeps its own arrival pattern, rescaled; a lengths-only file (no times) gets Poisson arrivals.
    burstiness: float | None = None
    max_context: int | None = None  # clamp input+output to the model's context window

    def __post_init__(self) -> None:
        self._check(self.on_bad_row in BAD_ROW_POLICIES, "on_bad_row", f"must be one of {', '.join(BAD_ROW_POLICIES)}")
        self._check(self.window_start_s >= 0, "window_start_s", "must be >= 0")
        self._check(self.window_end_s is None or self.window_end_s > self.window_start_s,
                    "window_end_s", "must be > window_start_s")
        self._check(0 < self.sample_fraction <= 1, "sample_fraction", "must be in (0, 1]")
        self._check(self.sample_seed >= 0, "sample_seed", "must be >= 0")
        self._check(self.limit is None or self.limit >= 0, "limit", "must be >= 0")
        self._check(self.speedup > 0, "speedup", "must be > 0")
        self._check(self.rate_rps is None or self.rate_rps > 0, "rate_rps", "must be > 0 requests/s")
        self._check(self.rate_rps is None or self.speedup == 1.0, "rate_rps", "give speedup or rate_rps, not both")
        self._check(self.burstiness is None or self.rate_rps is not None, "burstiness",
                    "needs a rate (rate_rps) to draw arrivals at")
        self._check(self.burstiness is None or tf.MIN_BURSTINESS <= self.burstiness <= tf.MAX_BURSTINESS,
                    "burstiness", f"must be in [{tf.MIN_BURSTINESS:g}, {tf.MAX_BURSTINESS:g}] (gamma shape; 1 = Poisson)")
        self._check(self.max_context is None or self.max_context >= 2, "max_context", "must be >= 2 tokens")

    def _check(self, ok: bool, field: str, rule: str) -> None:
        if not ok:
            raise InvalidSpec(field, f"{rule}, got {getattr(self, field)!r}")


@dataclass(frozen=True)
class LoadedTrace:
    """A trace ready to replay, with what reading and clamping did to it."""

    name: str
    path: Path | None  # None for synthetic traces
    fmt: str
    requests: list[TraceRequest]
    bad_rows: int = 0  # rows dropped with on_bad_row="skip"
    clamped: int = 0  # requests shortened to fit max_context
    first_bad_row: str | None = None  # message of the first dropped row
    block_tokens: int | None = None  # tokens per block id, when the format defines it
    timed: bool = True  # False for lengths-only files: every arrival is t=0
    out_of_order: int = 0  # rows that arrive before a row above them in the file (sorted on reading)


def load_trace(source: str | Path, options: TraceOptions | None = None) -> LoadedTrace:
    """Read ``source`` (built-in name, file path or ``synthetic:...``) and apply ``options``."""
    options = options or TraceOptions()
    loaded = _read_source(str(source), options)
    requests, clamped = apply_options(loaded.requests, options, loaded.timed)
    if not requests:  # a run of no requests would "complete" having shown nothing
        raise InvalidSpec("trace", f"no requests left in {loaded.name} after the window, sample and limit "
                                   "options")
    requests = with_prefix_blocks(requests, loaded.block_tokens,
                                  ragpulse_sizes(loaded.path.parent) if loaded.fmt == "ragpulse" else None)
    timed = loaded.timed or options.rate_rps is not None
    return dataclasses.replace(loaded, requests=requests, clamped=clamped, timed=timed)


class StreamedSynthetic(Sequence):
    """A synthetic source's requests drawn as they are replayed rather than held: each pass draws the
    same requests from the seed (one for the replay, one for the load summary). A sequence, as the list
    `load_trace` gives (so a replay takes the same checkpoints): its length is `n`, its first and last
    requests are known ahead (their arrivals drawn alone), any other is drawn on demand."""

    def __init__(self, spec: SyntheticSpec):
        assert spec.n is not None
        self.spec, self.n = spec, spec.n
        self._bounds: tuple[TraceRequest, TraceRequest] | None = None

    def __iter__(self) -> Iterator[TraceRequest]:
        return iter_synthetic(self.spec)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.n))]
        position = index + self.n if index < 0 else index
        if not 0 <= position < self.n:
            raise IndexError(index)
        if position in (0, self.n - 1):
            return self._ends()[0 if position == 0 else 1]
        return next(itertools.islice(iter(self), position, None))

    def _ends(self) -> tuple[TraceRequest, TraceRequest]:
        if self._bounds is None:
            self._bounds = (next(iter(self)), last_request(self.spec))
        return self._bounds


def streamed_trace(source: str, options: TraceOptions) -> LoadedTrace | None:
    """`load_trace`'s trace for a synthetic source of n= requests whose options change nothing, its requests
    streamed (memory flat in n: 1 M requests need not be held); None when `load_trace` must read it."""
    if not is_synthetic(source) or dataclasses.replace(options, on_bad_row="raise") != TraceOptions():
        return None
    spec = parse_synthetic(source)
    if spec.lengths is not None or spec.duration_s is not None or not spec.n:
        return None
    # As load_trace: iter_synthetic numbers requests 0..n-1 in arrival order and gives no sessions or blocks,
    # so renumbering and prefix blocks leave them as they are.
    return LoadedTrace(source, None, f"synthetic:{spec.process}", StreamedSynthetic(spec))  # type: ignore[arg-type]


def apply_options(requests: list[TraceRequest], options: TraceOptions,
                  timed: bool = True) -> tuple[list[TraceRequest], int]:
    """The transforms of ``options`` in the documented order; returns (requests, clamped count).

    A rate rescales a timed trace's own arrivals; with a burstiness, or on a trace without times
    (`timed` False), it draws new ones (``tf.arrivals_at``)."""
    if options.window_start_s > 0 or options.window_end_s is not None:
        requests = tf.window(requests, options.window_start_s, options.window_end_s)
    if options.sample_fraction < 1:
        requests = tf.sample(requests, options.sample_fraction, options.sample_seed)
    if options.limit is not None:
        requests = tf.limit(requests, options.limit)
    if options.speedup != 1.0:
        requests = tf.speedup(requests, options.speedup)
    if options.rate_rps is not None and (options.burstiness is not None or not timed):
        requests = tf.arrivals_at(requests, options.rate_rps, options.burstiness or 1.0, options.sample_seed)
    elif options.rate_rps is not None:
        requests = tf.rate(requests, options.rate_rps)
    clamped = 0
    if options.max_context is not None:
        requests, clamped = tf.clamp(requests, options.max_context)
    return tf.renumber(requests), clamped


def resolve_path(source: str) -> tuple[Path, str | None, str]:
    """(path, preset of a built-in or None, display name) for a built-in name or an existing file."""
    if source in BUILTIN_TRACES:
        entry = BUILTIN_TRACES[source]
        return entry.path, entry.fmt, source
    path = Path(source).expanduser()
    if is_file(path):
        return path, None, path.name
    raise UnknownName("trace (not a file, built-in or synthetic: source)", source, list(BUILTIN_TRACES))


def is_file(path: Path) -> bool:
    """Whether `path` names a file (False, not an error, for a name the file system refuses)."""
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, or with a NUL in it
        return False


def read_file(source: str, options: TraceOptions, narrow: bool = False) -> LoadedTrace:
    """A built-in or file trace, normalised (sorted, rebased, numbered), no options applied.

    With `narrow`, rows that the options' window and limit would drop anyway are dropped as the
    file streams by (`Narrowing`), so a one-hour window of a week-long file, or its first
    thousand requests, holds only those; `apply_options` then gives what it gives on the whole file.
    """
    path, builtin_fmt, name = resolve_path(source)
    if is_servegen(path, options):
        return read_servegen(path, name, options)
    explicit = options.fmt is not None or options.mapping is not None
    spec = detect_format(path, options.fmt if explicit else builtin_fmt, options.mapping)
    bad, order = BadRows(options.on_bad_row), ArrivalOrder()
    rows = order.watch(stream_requests(path, spec, bad))
    keep = Narrowing.of(options) if narrow else None
    requests = tf.normalise(rows) if keep is None else keep.read(rows)
    if requests is None:  # a row arrived before the file's first one: the window moved; read it all
        return read_file(source, options)
    if not requests and order.seen == 0:
        skipped = f" ({bad.count} bad row(s) skipped; first: {bad.first})" if bad.count else ""
        raise TraceFormatError(name, 1, "<file>", f"no requests in {name}{skipped}")
    return LoadedTrace(name, path, spec.name, requests, bad.count, 0, bad.first, spec.block_tokens, spec.timed,
                       order.out_of_order)


def is_servegen(path: Path, options: TraceOptions) -> bool:
    """Whether `path` is a ServeGen trace.csv: named so by the format, or detected by its first row."""
    if options.fmt is not None or options.mapping is not None:
        return options.fmt == servegen.FORMAT
    first = next((line for line in text_lines(path) if line.strip()), "")
    return servegen.looks_like(first)


def read_servegen(path: Path, name: str, options: TraceOptions) -> LoadedTrace:
    """A ServeGen client's requests, generated (seeded by the options' seed) as far as the window and limit need."""
    whole = options.sample_fraction < 1 or options.window_start_s > 0
    requests = servegen.generate(path, text_lines(path), options.sample_seed,
                                 None if whole else options.limit, options.window_end_s)
    if not requests:
        raise TraceFormatError(name, 1, "<file>", f"no requests in {name}: the client is idle in every window")
    return LoadedTrace(name, path, servegen.FORMAT, tf.normalise(requests))


@dataclass(frozen=True)
class Narrowing:
    """The rows of a file that can survive the options' window and limit, chosen while streaming.

    Times are measured from the file's first row, which is the trace's origin unless a later row
    arrives before it (then `read` gives up, returning None, and the file is read whole). Within
    the window every row is kept when the options sample (thinning draws over all of them, in
    order); otherwise only the `limit` earliest, ties in file order as the stable sort keeps them.
    """

    start_s: float
    end_s: float | None
    limit: int | None

    @classmethod
    def of(cls, options: TraceOptions) -> Narrowing | None:
        limit = options.limit if options.sample_fraction == 1 else None
        windowed = options.window_start_s > 0 or options.window_end_s is not None
        return cls(options.window_start_s, options.window_end_s, limit) if windowed or limit is not None else None

    def read(self, rows: Iterable[TraceRequest]) -> list[TraceRequest] | None:
        start, end, limit = self.start_s, self.end_s, self.limit
        kept: list[tuple[float, int, TraceRequest]] = []  # a max-heap by (arrival, row) when limited
        origin = None
        for i, r in enumerate(rows):
            if origin is None:
                origin = r.arrival_s
            elif r.arrival_s < origin:
                return None
            if not tf.in_window(r.arrival_s - origin, start, end):
                continue
            if limit is None:
                kept.append((r.arrival_s, i, r))
            elif len(kept) < limit:
                heapq.heappush(kept, (-r.arrival_s, -i, r))
            elif limit and (-r.arrival_s, -i) > kept[0][:2]:
                heapq.heapreplace(kept, (-r.arrival_s, -i, r))
        ordered = sorted(kept) if limit is None else sorted(kept, reverse=True)
        return tf.normalise_from([r for *_, r in ordered], 0.0 if origin is None else origin)


class ArrivalOrder:
    """Counts requests that arrive before one listed above them: the trace is sorted on reading,
    and the summary says how many were out of order instead of hiding it."""

    def __init__(self) -> None:
        self.out_of_order, self._latest = 0, float("-inf")
        self.seen = 0  # rows read

    def watch(self, requests: Iterable[TraceRequest]) -> Iterator[TraceRequest]:
        for r in requests:
            self.seen += 1
            self.out_of_order += r.arrival_s < self._latest
            self._latest = max(self._latest, r.arrival_s)
            yield r


def _read_source(source: str, options: TraceOptions) -> LoadedTrace:
    if not is_synthetic(source):
        return read_file(source, options, narrow=True)
    spec = parse_synthetic(source)
    lengths = read_file(spec.lengths, options) if spec.lengths is not None else None
    empirical = EmpiricalLengths.from_requests(lengths.requests) if lengths is not None else None
    requests = generate(spec, empirical)
    bad = lengths.bad_rows if lengths is not None else 0
    first_bad = lengths.first_bad_row if lengths is not None else None
    return LoadedTrace(source, None, f"synthetic:{spec.process}", requests, bad, 0, first_bad)
