"""A measured benchmark run: per-request arrivals, lengths and latencies, and where they came from."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

from twin.errors import InvalidSpec, TraceFormatError
from twin.serving.request import TraceRequest

LATENCY_SLACK_S = 1e-3  # export rounding: latency may differ from ttft + tpot x (n - 1) by this, plus 1 %


@dataclass(frozen=True)
class MeasuredRequest:
    """One request as the engine served it (seconds; arrival from the run's first arrival)."""

    request_id: int
    arrival_s: float
    input_tokens: int
    output_tokens: int
    ttft_s: float
    tpot_s: float | None  # None for a one-token answer
    e2e_s: float

    def trace_request(self) -> TraceRequest:
        return TraceRequest(self.request_id, self.arrival_s, self.input_tokens, self.output_tokens)


@dataclass
class Measurement:
    """The requests of one measured file, in arrival order, with the file's SHA-256."""

    path: str
    sha256: str
    requests: list[MeasuredRequest]
    arrivals: str = "measured"  # or how they were regenerated (vLLM results without start times)
    failed: int = 0  # requests the engine did not complete, left out
    notes: list[str] = field(default_factory=list)

    def workload(self) -> list[TraceRequest]:
        return [r.trace_request() for r in self.requests]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_request(req: MeasuredRequest, where: tuple[str, int]) -> MeasuredRequest:
    """The rules every measured request keeps; a TraceFormatError names file, line and field."""
    path, line = where
    for name in ("arrival_s", "ttft_s", "e2e_s"):
        value = getattr(req, name)
        if not math.isfinite(value) or value < 0:
            raise TraceFormatError(path, line, name, f"must be a finite time >= 0, got {value!r}")
    if req.tpot_s is not None and (not math.isfinite(req.tpot_s) or req.tpot_s < 0):
        raise TraceFormatError(path, line, "tpot_s", f"must be a finite time >= 0, got {req.tpot_s!r}")
    if req.input_tokens < 1 or req.output_tokens < 1:
        raise TraceFormatError(path, line, "tokens", "prompt and output must have at least one token")
    if req.e2e_s + LATENCY_SLACK_S < req.ttft_s:
        raise TraceFormatError(path, line, "latency", f"{req.e2e_s!r} s ends before the first token "
                                                      f"({req.ttft_s!r} s)")
    if req.tpot_s is not None:
        implied = req.ttft_s + req.tpot_s * (req.output_tokens - 1)
        if abs(implied - req.e2e_s) > LATENCY_SLACK_S + 0.01 * req.e2e_s:
            raise TraceFormatError(path, line, "latency", f"{req.e2e_s:.6g} s does not match ttft + tpot x "
                                                          f"(output_tokens - 1) = {implied:.6g} s")
    return req


def rebased(requests: list[MeasuredRequest]) -> list[MeasuredRequest]:
    """In arrival order, times from the first arrival; request ids must be unique."""
    if not requests:
        return []
    ids = [r.request_id for r in requests]
    if len(set(ids)) != len(ids):
        raise InvalidSpec("request_id", "appears twice: each measured request needs its own id")
    start = min(r.arrival_s for r in requests)
    out = [MeasuredRequest(r.request_id, r.arrival_s - start, r.input_tokens, r.output_tokens, r.ttft_s, r.tpot_s,
                           r.e2e_s) for r in requests]
    return sorted(out, key=lambda r: (r.arrival_s, r.request_id))


def load_measurement(path: str | Path) -> Measurement:
    """A measured file by its suffix: .csv / .jsonl (the twin's export), .json (vLLM's saved result)."""
    from twin.measure import export_reader, vllm_reader
    path = Path(path)
    if not path.is_file():
        raise InvalidSpec(str(path)[:200], "no such measurement file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".jsonl"):
        measurement = export_reader.read(path, suffix[1:])
    elif suffix == ".json":
        measurement = vllm_reader.read(path)
    else:
        raise InvalidSpec(path.name[:200], "measurement files are .csv or .jsonl (twin runs export) or .json "
                                           "(vLLM benchmark_serving.py --save-result)")
    if not measurement.requests:
        raise InvalidSpec(path.name[:200], "no completed requests in this measurement")
    return measurement
