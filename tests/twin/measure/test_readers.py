"""Measurement readers: the twin's export (CSV, JSON Lines) and vLLM's saved benchmark result."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from services.export import NAMES, row_of
from twin.errors import TwinError
from twin.measure import load_measurement
from twin.replay import RunSpec, replay
from twin.serving.request import TraceRequest


def _records():
    sim = RunSpec("h100x1", "opt-1.3b").build()
    replay(sim, [TraceRequest(i, 10.0 + 0.3 * i, 100 + 7 * i, 4 + i) for i in range(6)])
    return sim.recorder.requests


def test_export_csv_and_jsonl_read_back_the_records(tmp_path: Path) -> None:
    records = _records()
    with (tmp_path / "m.csv").open("w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=NAMES)
        out.writeheader()
        out.writerows(row_of(r) for r in records)
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(row_of(r)) + "\n" for r in records))
    for name in ("m.csv", "m.jsonl"):
        m = load_measurement(tmp_path / name)
        assert [r.arrival_s for r in m.requests] == pytest.approx([0.3 * i for i in range(6)])  # rebased
        assert [r.ttft_s for r in m.requests] == pytest.approx([r.ttft_s for r in records])
        assert [r.tpot_s for r in m.requests] == pytest.approx([r.tpot_s for r in records])
        assert len(m.sha256) == 64


def _vllm(tmp_path: Path, **extra) -> Path:
    data = {"request_rate": 4.0, "burstiness": 1.0, "seed": 7, "input_lens": [100, 200, 300],
            "output_lens": [3, 0, 2], "ttfts": [0.05, 0.0, 0.07], "itls": [[0.01, 0.02], [], [0.03]],
            "errors": ["", "timeout", ""], **extra}
    path = tmp_path / "vllm.json"
    path.write_text(json.dumps(data))
    return path


def test_vllm_result_without_start_times_regenerates_arrivals(tmp_path: Path) -> None:
    m = load_measurement(_vllm(tmp_path))
    gaps = np.random.RandomState(7).gamma(1.0, 0.25, size=2)
    assert m.failed == 1 and "regenerated" in m.arrivals
    assert [r.arrival_s for r in m.requests] == pytest.approx([0.0, gaps.sum()])
    first = m.requests[0]
    assert (first.tpot_s, first.e2e_s) == pytest.approx((0.015, 0.08))  # sum(itls) / (n - 1), ttft + sum(itls)


def test_vllm_result_with_start_times_uses_them(tmp_path: Path) -> None:
    m = load_measurement(_vllm(tmp_path, start_times=[100.0, 100.5, 101.0]))
    assert m.arrivals == "measured"
    assert [r.arrival_s for r in m.requests] == pytest.approx([0.0, 1.0])


@pytest.mark.parametrize("extra, fragment", [
    ({"start_times": [1.0, 2.0]}, "vllm.json:1: column 'start_times': has 2 entries for 3 requests"),
    ({"ttfts": [0.05, 0.0, -0.07]}, "vllm.json:3: column 'ttft_s': must be a finite time >= 0"),
    ({"itls": [[0.01, -0.02], [], [0.03]]}, "vllm.json:1: column 'itls': an inter-token gap is negative"),
])
def test_vllm_bad_results_name_file_request_and_field(tmp_path: Path, extra: dict, fragment: str) -> None:
    with pytest.raises(TwinError, match=fragment.replace("(", r"\(")):
        load_measurement(_vllm(tmp_path, **extra))


def test_export_row_whose_latency_contradicts_ttft_and_tpot_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("start_time,prompt_len,output_tokens,ttft,tpot,latency\n0,10,5,0.1,0.01,0.14\n"
                    "1,10,5,0.1,0.01,0.9\n")
    with pytest.raises(TwinError, match="m.csv:3: column 'latency': 0.9 s does not match"):
        load_measurement(path)
