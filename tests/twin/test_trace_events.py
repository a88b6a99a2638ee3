"""Trace events of layer fidelity: one track per chip, memory, ESL link and host, spans that never
overlap on a track, and that add up to the time the replicas were busy."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from twin import trace_events
from twin.errors import InvalidSpec
from twin.config import ServingConfig
from twin.replay import RunSpec, replay
from twin.traces import load_trace

TRACE = "synthetic:poisson?rate=3&n=40&input=64..512&output=8..64&seed=4"


def _layer_run(tp: int = 4):
    sim = RunSpec(server="lpu-8x-4nm", model="opt-1.3b", tp=tp, serving=ServingConfig(fidelity="layer")).build()
    recorder = trace_events.attach(sim)
    replay(sim, load_trace(TRACE).requests)
    return sim, recorder


def _spans(recorder):
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in recorder.events if e["name"] == "thread_name"}
    by_track: dict[str, list[dict]] = {}
    for e in recorder.events:
        if e["ph"] == "X":
            by_track.setdefault(names[(e["pid"], e["tid"])], []).append(e)
    return by_track


def test_every_component_has_a_track_and_spans_never_overlap_on_one():
    sim, recorder = _layer_run()
    tracks = _spans(recorder)
    server = sim.servers[0]
    expected = {c.name for c in server.chips} | {c.hbm.name for c in server.chips} | {l.name for l in server.links}
    assert expected <= tracks.keys()
    assert {"server0/host/chips0-3", "server0/host/chips4-7"} <= tracks.keys()
    for name, spans in tracks.items():
        spans.sort(key=lambda e: e["ts"])
        for a, b in zip(spans, spans[1:]):
            assert b["ts"] >= a["ts"] + a["dur"] - 1e-6, name


def test_a_replicas_spans_add_up_to_its_busy_time():
    sim, recorder = _layer_run()
    tracks = _spans(recorder)
    for replica in sim.replicas:
        first = replica.index * 4
        host = sum(e["dur"] for e in tracks[f"server0/host/chips{first}-{first + 3}"])
        chip = sum(e["dur"] for e in tracks[f"server0/chip{first}"])  # step + LM head
        assert (host + chip) / 1e6 == pytest.approx(replica.stats.busy_s, rel=1e-9)


def test_step_fidelity_is_refused_and_nothing_is_recorded_unless_attached():
    with pytest.raises(InvalidSpec, match="layer fidelity"):
        trace_events.attach(RunSpec(server="lpu-8x-4nm", model="opt-1.3b").build())
    sim = RunSpec(server="lpu-8x-4nm", model="opt-1.3b", tp=4, serving=ServingConfig(fidelity="layer")).build()
    assert all(r.backend.tracer is None for r in sim.replicas)


def test_the_cli_writes_json_that_loads(tmp_path):
    from services.cli import cli
    out = tmp_path / "events.json"
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'r.db'}", "replay", TRACE, "--model", "opt-1.3b",
                                      "--tp", "2", "--fidelity", "layer", "--trace-events", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert {e["ph"] for e in data["traceEvents"]} == {"M", "X"} and data["otherData"]["dropped_events"] == 0
