"""Summary metrics mean what they say: decode-only beside end-to-end throughput, utilisation over the
replicas that worked (over the run and over their busy time), memory named as the chip has it."""

from __future__ import annotations

import pytest

from twin.config import ServingConfig
from twin.replay import RunSpec, replay
from twin.serving.request import TraceRequest


def test_decode_only_throughput_is_decode_tokens_over_decode_busy_time():
    sim = RunSpec("oaken-lpddr", "llama2-7b", serving=ServingConfig(max_batch=16)).build()
    summary = replay(sim, [TraceRequest(i, 0.0, 1024, 256) for i in range(16)]).summary
    st = sim.replicas[0].stats
    th = summary["throughput"]
    assert th["decode_tokens_per_s"] == pytest.approx(st.decode_tokens / st.decode_busy_s)
    # end to end includes the prefills (and idle time), so it is lower than decode-only
    assert th["output_tokens_per_s"] < th["decode_tokens_per_s"]


def test_utilisation_is_averaged_over_replicas_that_worked():
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=2).build()  # four replicas, one request: one works
    summary = replay(sim, [TraceRequest(0, 0.0, 512, 128)]).summary
    hw, chip = summary["hardware"], sim.cluster.server.chip
    (worker,) = [r.stats for r in sim.replicas if r.stats.busy_s > 0]
    span = summary["makespan_s"]
    assert hw["replicas_working"] == 1
    assert hw["mac_util"] == pytest.approx(worker.macs / (span * chip.macs_per_s))  # not diluted 4x
    assert hw["mac_util_busy"] == pytest.approx(worker.macs / (worker.busy_s * chip.macs_per_s))
    assert hw["hbm_bandwidth_util"] == pytest.approx(worker.mem_bytes / (span * chip.memory.peak_bytes_per_s))
    assert hw["hbm_bandwidth_util_busy"] >= hw["hbm_bandwidth_util"]


@pytest.mark.parametrize("server,kind", [("oaken-lpddr", "LPDDR"), ("oaken-hbm", "HBM"), ("lpu-8x-4nm", "HBM"),
                                         ("orion-cloud", "HBM")])
def test_memory_is_named_as_the_chip_has_it(server, kind):
    summary = replay(RunSpec(server, "opt-1.3b", tp=1, replicas=1).build(), [TraceRequest(0, 0.0, 16, 4)]).summary
    assert summary["hardware"]["memory_kind"] == kind == summary["twin"]["memory_kind"]


def test_slo_attainment_counts_rejected_requests_as_misses() -> None:
    """Four requests: two finish within a 1 s TTFT, one finishes late, one is rejected as too long.
    Over every submitted request 2 of 4 met the SLO; over the finished ones, 2 of 3."""
    from twin.metrics import RequestRecord
    from twin.summary import RequestTally, Slo
    tally = RequestTally(Slo(1.0, None))
    for rid, first in ((1, 0.5), (2, 0.9), (3, 2.5)):
        tally.add(RequestRecord(rid, 0, "done", 0.0, 100, 10, first, first + 1.0, 0, ""))
    tally.add(RequestRecord(4, 0, "rejected", 0.0, 9000, 10, None, None, 0, "too long"))
    slo = tally.summary()["slo"]
    assert slo["attained"] == 2 / 4
    assert slo["attained_of_completed"] == 2 / 3
