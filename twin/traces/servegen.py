"""Alibaba ServeGen's released workload data, generated into requests.

ServeGen (alibaba/ServeGen, ``data/<category>/<model>/``; Xiang et al., arXiv 2505.09999, Apache-2.0)
publishes per client, not per request:

- ``chunk-<client>-trace.csv``, no header, one row per 600 s window:
  ``window_start_s,rate_rps,cv,pattern,shape,scale``; ``pattern`` is ``Gamma`` or ``Weibull``
  (inter-arrival gaps with that shape and scale), or empty with zeros while the client is idle;
- ``chunk-<client>-dataset.json`` beside it: per 6 h window start, each length field's PDF as a
  Python dict literal ``"{tokens: probability, ...}"`` (parsed here with ``ast.literal_eval``).

In each busy window, gaps come from the named distribution, scaled so their mean is 1/rate_rps
(the window keeps its published rate, as ServeGen's own generator rescales them), from the window's
start to its end. Lengths are drawn from the PDFs of the dataset window an arrival falls in: the
prompt is ``input_tokens``, or for multimodal pools the sum of the text, image, audio and video
tokens (drawn independently: the data gives no joint distribution); the output is
``output_tokens``. A drawn length of 0 becomes 1 token (the twin serves at least one of each).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from twin.errors import InvalidSpec, TraceFormatError, quote
from twin.serving.request import TraceRequest

if TYPE_CHECKING:
    import numpy as np

FORMAT = "servegen"  # the format's name (--format servegen)
PATTERNS = ("Gamma", "Weibull")
INPUT_FIELDS = ("input_tokens",)
MULTIMODAL_INPUT_FIELDS = ("text_tokens", "image_tokens", "audio_tokens", "video_tokens")
WINDOW_S = 600.0  # the last row's window: ServeGen's rate windows are 600 s
MAX_DATASET_BYTES = 64 << 20  # the largest published dataset file is under 1 MB
MAX_REQUESTS = 10_000_000  # generated before the window and limit apply: ask for fewer past this
_NAME = re.compile(r"^(.*)-trace\.csv$")


@dataclass(frozen=True)
class Window:
    """One row of a trace.csv: a 600 s window's arrival process."""

    start_s: float
    rate_rps: float
    pattern: str  # Gamma | Weibull | "" (idle)
    shape: float
    scale: float


def looks_like(first_line: str) -> bool:
    """Whether a CSV's first line is a ServeGen trace.csv row (six fields, no header)."""
    cells = first_line.strip().split(",")
    return len(cells) == 6 and cells[3] in ("", *PATTERNS) and all(_is_number(c) for c in cells[:3] + cells[4:])


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def read_windows(path: Path, lines: Iterator[str]) -> list[Window]:
    windows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        cells = line.strip().split(",")
        if len(cells) != 6 or cells[3] not in ("", *PATTERNS):
            raise TraceFormatError(str(path), number, "<row>", f"expected window_start_s,rate_rps,cv,pattern,"
                                                               f"shape,scale (pattern Gamma or Weibull), got {quote(line.strip(), 120)}")
        try:
            start, rate, _cv, shape, scale = (float(c) for c in cells[:3] + cells[4:])
        except ValueError:
            raise TraceFormatError(str(path), number, "<row>", f"not a number in {quote(line.strip(), 120)}") from None
        if not (math.isfinite(start) and rate >= 0 and math.isfinite(rate)) or (rate > 0 and not shape > 0):
            raise TraceFormatError(str(path), number, "<row>", "needs a finite start, a rate >= 0 and, when busy, "
                                                               "a shape > 0")
        windows.append(Window(start, rate, cells[3] if rate > 0 else "", shape, scale))
    return sorted(windows, key=lambda w: w.start_s)


def dataset_path(path: Path) -> Path:
    match = _NAME.match(path.name)
    twin_file = path.with_name(f"{match.group(1)}-dataset.json") if match else None
    if twin_file is None or not twin_file.is_file():
        raise TraceFormatError(str(path), 1, "<file>", "a ServeGen trace.csv takes its lengths from "
                                                       "chunk-<client>-dataset.json beside it; not found")
    return twin_file


class Lengths:
    """The length PDFs of a dataset.json, per 6 h window, as (values, cumulative probabilities)."""

    def __init__(self, path: Path):
        import numpy as np
        if path.stat().st_size > MAX_DATASET_BYTES:
            raise TraceFormatError(str(path), 1, "<file>", f"larger than {MAX_DATASET_BYTES:,} bytes")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.windows = sorted((float(k), {f: _pdf(v) for f, v in fields.items()}) for k, fields in data.items())
        except (ValueError, SyntaxError, TypeError, AttributeError, RecursionError) as exc:
            raise TraceFormatError(str(path), 1, "<file>", f"not a ServeGen dataset file: {exc}") from None
        self._np = np

    def draw(self, at_s: float, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(prompt, output) tokens of `count` requests arriving at `at_s`."""
        fields = self._fields(at_s)
        names = INPUT_FIELDS if "input_tokens" in fields else MULTIMODAL_INPUT_FIELDS
        prompt = sum(self._sample(fields, name, count, rng) for name in names)
        output = self._sample(fields, "output_tokens", count, rng)
        return self._np.maximum(prompt, 1), self._np.maximum(output, 1)

    def _fields(self, at_s: float) -> dict:
        chosen = None
        for start, fields in self.windows:
            if start <= at_s and fields.get("output_tokens"):
                chosen = fields
        if chosen is None:  # arrivals in a window whose PDFs are empty: the nearest window that has some
            chosen = next((f for _, f in self.windows if f.get("output_tokens")), None)
        if chosen is None:
            raise InvalidSpec("trace", "the ServeGen dataset file has no length distribution")
        return chosen

    def _sample(self, fields: dict, name: str, count: int, rng: np.random.Generator) -> np.ndarray:
        np = self._np
        if not fields.get(name):
            return np.zeros(count, dtype=np.int64)
        values, cumulative = fields[name]
        picks = np.searchsorted(cumulative, rng.random(count) * cumulative[-1], side="right")
        return values[np.minimum(picks, len(values) - 1)]


def _pdf(text: str):
    import numpy as np
    pdf = ast.literal_eval(text) if isinstance(text, str) else text
    if not isinstance(pdf, dict):
        raise TypeError(f"expected a dict literal of {{tokens: probability}}, got {type(pdf).__name__}")
    if not pdf:
        return None
    items = sorted((int(round(float(k))), float(p)) for k, p in pdf.items())
    values = np.array([k for k, _ in items], dtype=np.int64)
    cumulative = np.cumsum([max(p, 0.0) for _, p in items])
    return (values, cumulative) if cumulative[-1] > 0 else None


def generate(path: Path, lines: Iterator[str], seed: int = 0, stop_after: int | None = None,
             horizon_s: float | None = None) -> list[TraceRequest]:
    """The requests of a ServeGen client: arrivals window by window, lengths from the dataset file.

    `stop_after` requests or `horizon_s` seconds past the first arrival end generation early
    (the loader's limit and window), so a long pool need not be generated whole."""
    import numpy as np
    windows = read_windows(path, lines)
    lengths = Lengths(dataset_path(path))
    arrival_rng, length_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    requests: list[TraceRequest] = []
    expected, first = 0.0, None
    for i, w in enumerate(windows):
        end = windows[i + 1].start_s if i + 1 < len(windows) else w.start_s + WINDOW_S
        if w.rate_rps == 0 or end <= w.start_s:
            continue
        if horizon_s is not None and first is not None and w.start_s > first + horizon_s:
            break
        expected += w.rate_rps * (end - w.start_s)
        if expected > MAX_REQUESTS:
            raise InvalidSpec("trace", f"{path.name} generates over {MAX_REQUESTS:,} requests; keep a window "
                                       "(--window) or the first N (--limit)")
        times = _window_arrivals(w, end, arrival_rng)
        prompt, output = lengths.draw(w.start_s, len(times), length_rng)
        for t, a, b in zip(times.tolist(), prompt.tolist(), output.tolist()):
            requests.append(TraceRequest(len(requests), t, a, b))
        first = requests[0].arrival_s if requests and first is None else first
        if stop_after is not None and len(requests) >= stop_after:
            break
    return requests


def _window_arrivals(w: Window, end_s: float, rng: np.random.Generator) -> np.ndarray:
    """Arrival times in [start, end) with the window's gap distribution and mean gap 1/rate."""
    import numpy as np
    mean_gap, times, last = 1.0 / w.rate_rps, [], w.start_s
    chunk = int(w.rate_rps * (end_s - w.start_s) * 1.5) + 16
    while last < end_s:
        gaps = _unit_gaps(w, chunk, rng) * mean_gap
        more = last + np.cumsum(gaps)
        times.append(more[more < end_s])
        last = float(more[-1])
    return np.concatenate(times) if times else np.zeros(0)


def _unit_gaps(w: Window, count: int, rng: np.random.Generator) -> np.ndarray:
    """Gaps of the window's distribution divided by its mean (so their mean is 1): the scale cancels."""
    import numpy as np
    if w.pattern == "Weibull":  # mean = scale * Gamma(1 + 1/shape); in logs, as 1/shape may be large
        with np.errstate(divide="ignore"):  # a gap drawn as 0 stays 0
            return np.exp(np.log(rng.weibull(w.shape, count)) - math.lgamma(1.0 + 1.0 / w.shape))
    return rng.gamma(w.shape, 1.0 / w.shape, count)  # Gamma: mean = shape * scale
