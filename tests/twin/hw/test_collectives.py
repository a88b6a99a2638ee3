"""NVLink all-reduce against nccl-tests and Vidur's NCCL measurements (twin.serving.cost.all_reduce).

One all-reduce of S bytes on 8 GPUs of dgx-h100 (NVLink 4, NVSwitch) is half the layer's pair of
all-reduces for tokens = S / (hidden x 2 B). Expected: the measured times in nccl_tests_h20x8.csv (8 GPUs
with the H100's NVLink 4). Achieved: median 2.3 %, worst 28.5 % (2-8 MB, NCCL's channel ramp); the
tolerances are those figures rounded up. The link's figures are read from its YAML as plain YAML.
"""

from __future__ import annotations

import csv
import statistics
from importlib import resources
from pathlib import Path

import pytest
import yaml

from twin.catalog import load_model, load_server
from twin.quant import QuantPolicy
from twin.serving.cost import CostModel

TABLE = Path(__file__).with_name("nccl_tests_h20x8.csv")


def measured() -> list[tuple[int, float]]:
    rows = csv.DictReader(line for line in TABLE.read_text().splitlines() if not line.startswith("#"))
    return [(int(r["bytes"]), float(r["time_us"]) * 1e-6) for r in rows]


def twin_all_reduce_s(nbytes: int) -> float:
    model = load_model("llama2-7b")
    cost = CostModel(model, load_server("dgx-h100"), 8, QuantPolicy.named())
    seconds, _ = cost.all_reduce(nbytes // (model.hidden * 2))
    return seconds / 2


def test_all_reduce_curve_follows_nccl_tests():
    errors = [abs(twin_all_reduce_s(s) / t - 1) for s, t in measured()]
    assert statistics.median(errors) <= 0.03
    assert max(errors) <= 0.29


def test_all_reduce_is_start_plus_ring_steps_plus_bytes_at_the_protocol_share():
    link = yaml.safe_load(resources.files("twin.catalog").joinpath("links/nvlink4.yaml").read_text())
    n, nbytes = 8, 1 << 24
    start = link["collective_launch_s"] + 2 * (n - 1) * link["hop_latency_s"]
    wire = 2 * (n - 1) / n * nbytes / (link["bandwidth_gbit_s"] * 1e9 / 8 * link["collective_efficiency"])
    assert twin_all_reduce_s(nbytes) == pytest.approx(start + wire, rel=1e-9)


VIDUR = Path(__file__).with_name("vidur_all_reduce.csv")


def vidur_errors(system: str, server: str) -> list[float]:
    """Twin against Vidur's NCCL all-reduce times on one DGX (2, 4 and 8 GPUs, 8-64 MB: below, the kernel
    times its harness reads include some 10 us of waiting for the last rank, which nccl-tests do not)."""
    rows = csv.DictReader(line for line in VIDUR.read_text().splitlines() if not line.startswith("#"))
    model = load_model("llama2-7b")
    out = []
    for r in rows:
        if r["system"] != system or int(r["bytes"]) < 1 << 23:  # below 8 MB its harness's wait dominates
            continue
        cost = CostModel(model, load_server(server), int(r["gpus"]), QuantPolicy.named())
        tokens, rest = divmod(int(r["bytes"]), model.hidden * 2)  # messages of whole tokens' activations
        assert rest == 0, r
        out.append(cost.all_reduce(tokens)[0] / 2 / (float(r["time_ms"]) * 1e-3) - 1)
    return out


@pytest.mark.parametrize("system, server, median, worst", [("a100_dgx", "dgx-a100", 0.22, 0.40),
                                                           ("h100_dgx", "dgx-h100", 0.15, 0.24)])
def test_all_reduce_against_vidurs_dgx_measurements(system, server, median, worst):
    """Achieved: DGX H100 median 14.2 %, worst 23.3 %; DGX A100 21.6 % / 38.9 %, the twin faster: the start is
    nccl-tests' (18.6 us on 8 GPUs), where Vidur's A100 times imply about 48 us (nvlink3.yaml)."""
    errs = vidur_errors(system, server)
    assert len(errs) == 12
    assert statistics.median(abs(e) for e in errs) <= median
    assert max(abs(e) for e in errs) <= worst
