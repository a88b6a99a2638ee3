"""vLLM's ``benchmark_serving.py --save-result`` JSON (also ``vllm bench serve``) as a measurement.

Per request it holds ``input_lens``, ``output_lens``, ``ttfts`` and ``itls`` (the gaps between
output tokens, seconds) and, in recent versions, ``start_times``; failed requests have an
``errors`` entry and an output length of 0. TPOT is ``sum(itls) / (output_len - 1)`` and the
end-to-end latency ``ttft + sum(itls)``, as vLLM computes them.

Arrivals: ``start_times`` when the file has them. Otherwise they are regenerated from
``request_rate``, ``burstiness`` and ``seed`` with vLLM's law (gamma intervals of shape
``burstiness`` and mean ``1 / request_rate``, the first request at 0; all at 0 for an infinite
rate). vLLM draws them from NumPy's global generator after sampling its dataset, so the twin
reproduces the law and the seed, not the exact draws: the measurement says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from twin.errors import InvalidSpec, TraceFormatError
from twin.measure.records import MeasuredRequest, Measurement, check_request, file_sha256, rebased

MAX_BYTES = 256 << 20  # one JSON document, read whole: a result of a million requests is ~100 MB
PER_REQUEST = ("input_lens", "output_lens", "ttfts", "itls")
REGENERATED = "regenerated from request_rate, burstiness and seed (vLLM's gamma law; not its exact draws)"


def read(path: Path) -> Measurement:
    if path.stat().st_size > MAX_BYTES:
        raise InvalidSpec(path.name, f"larger than {MAX_BYTES >> 20} MB: not a vLLM benchmark result")
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise TraceFormatError(path.name, getattr(exc, "lineno", 1), "<file>", "not a JSON document") from None
    if not isinstance(data, dict) or any(not isinstance(data.get(k), list) for k in PER_REQUEST):
        missing = next(k for k in PER_REQUEST if not isinstance(data, dict) or not isinstance(data.get(k), list))
        raise TraceFormatError(path.name, 1, missing, "missing list (a vLLM --save-result file has input_lens, "
                                                      "output_lens, ttfts and itls)")
    count = len(data["input_lens"])
    for key in (*PER_REQUEST, "start_times", "errors"):
        if isinstance(data.get(key), list) and len(data[key]) != count:
            raise TraceFormatError(path.name, 1, key, f"has {len(data[key])} entries for {count} requests: "
                                                      "the requests do not match their arrivals")
    arrivals, how = _arrivals(data, count, path.name)
    requests, failed = [], 0
    for i in range(count):
        if _failed(data, i):
            failed += 1
            continue
        requests.append(check_request(_request(data, i, arrivals[i], path.name), (path.name, i + 1)))
    notes = [] if data.get("max_concurrency") in (None, 0) else \
        [f"max_concurrency {data['max_concurrency']} limited the client; the twin replays open-loop arrivals"]
    return Measurement(path.name, file_sha256(path), rebased(requests), how, failed, notes)


def _failed(data: dict, i: int) -> bool:
    errors = data.get("errors")
    return bool(errors[i]) if isinstance(errors, list) else data["output_lens"][i] == 0


def _arrivals(data: dict, count: int, name: str) -> tuple[list[float], str]:
    if isinstance(data.get("start_times"), list):
        return [_number(v, name, i, "start_times") for i, v in enumerate(data["start_times"])], "measured"
    rate = data.get("request_rate", "inf")
    rate = math.inf if rate in ("inf", None) else _number(rate, name, 0, "request_rate")
    burstiness = _number(data.get("burstiness", 1.0), name, 0, "burstiness")
    seed = data.get("seed", 0)
    if not rate > 0 or not burstiness > 0 or not isinstance(seed, int):
        raise TraceFormatError(name, 1, "request_rate", "rate and burstiness must be > 0 and seed an integer")
    if math.isinf(rate):
        return [0.0] * count, "all at 0 (request_rate inf)"
    gaps = np.random.RandomState(seed).gamma(burstiness, 1.0 / (rate * burstiness), size=max(count - 1, 0))
    return [0.0, *np.cumsum(gaps).tolist()], REGENERATED


def _number(value, name: str, i: int, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TraceFormatError(name, i + 1, key, f"not a number: {str(value)[:40]!r}")
    return float(value)


def _request(data: dict, i: int, arrival_s: float, name: str) -> MeasuredRequest:
    line = i + 1  # the request's position: the file is one JSON document
    output = data["output_lens"][i]
    prompt = data["input_lens"][i]
    if not isinstance(output, int) or not isinstance(prompt, int):
        raise TraceFormatError(name, line, "output_lens" if not isinstance(output, int) else "input_lens",
                               "must be a whole number of tokens")
    itls = data["itls"][i]
    if not isinstance(itls, list):
        raise TraceFormatError(name, line, "itls", "must be a list of inter-token gaps")
    gaps = [_number(g, name, i, "itls") for g in itls]
    if any(g < 0 for g in gaps):
        raise TraceFormatError(name, line, "itls", "an inter-token gap is negative")
    ttft = _number(data["ttfts"][i], name, i, "ttfts")
    tpot = sum(gaps) / (output - 1) if output > 1 else None
    return MeasuredRequest(i, arrival_s, prompt, output, ttft, tpot, ttft + sum(gaps))
