"""Every component of a twin answers by path, down to one HBM channel and one ESL link."""

import pytest

from twin.errors import UnknownName
from twin.replay import RunSpec, replay
from twin.traces import TraceOptions, load_trace


def test_component_paths_and_their_state():
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=8).build()
    replay(sim, load_trace("azure-conv-2023", TraceOptions(limit=20)).requests)
    hbm = sim.component("server0/chip3/hbm").state()
    ch = sim.component("server0/chip3/hbm/ch5").state()
    assert hbm["channels"] == 64 and ch["channel"] == 5
    assert ch["capacity_bytes"] * 64 == pytest.approx(hbm["capacity_bytes"])
    assert hbm["bytes_moved"] == pytest.approx(sim.replicas[0].stats.mem_bytes) and hbm["bytes_moved"] > 0
    assert sim.component("server0/chip3").state()["macs"] > 0
    assert sim.component("server0/esl/link7").state()["bandwidth_gbit_s"] == 400  # a closed ring: 8 links
    assert sim.component("server0/host").state()["memory_gb"] == 1024
    for bad in ("server0/chip8", "server0/chip3/hbm/ch64", "server0/esl/link8", "server1/host"):
        with pytest.raises(UnknownName):
            sim.component(bad)
