"""A whole `layer`-fidelity replay with closed-form walks reports what walking every layer as
events reports, on every chip, memory, channel, link and host, mid-run and at the end; every
chip of a tensor-parallel replica reports its own share of the replica's work; and something
that really contends for a chip's memory still delays the step it hits."""

from __future__ import annotations

import pytest

from twin import trace_events
from twin.config import ServingConfig
from twin.hw.chip import Chip
from twin.replay import RunSpec, replay
from twin.traces import load_trace

TRACE = "synthetic:poisson?rate=20&n=40&input=64..512&output=8..64&seed=4"  # busy replicas for about 6 s
SNAPSHOTS_S = (1.0, 2.345, 4.5)
FOREIGN = dict(at_s=2.0, nbytes=3e8, hold_s=0.004, channels=4)  # e.g. a swap on 4 of chip3's 64 channels


def _run(foreign: bool = False, pp: int = 1):
    sim = RunSpec("lpu-8x-4nm", "llama2-7b", tp=4 // pp, pp=pp, serving=ServingConfig(fidelity="layer")).build()
    recorder = trace_events.attach(sim)
    if foreign:
        sim.env.process(_swap(sim))
    sim.feed(load_trace(TRACE).requests)
    snaps = []
    for t in SNAPSHOTS_S:
        sim.run(until_s=t)
        snaps.append(_states(sim))
    summary = replay(sim, []).summary
    return sim, recorder, snaps + [_states(sim)], summary


def _swap(sim):
    yield sim.env.timeout(FOREIGN["at_s"])
    yield from sim.component("server0/chip3/hbm").stream(FOREIGN["nbytes"], FOREIGN["hold_s"], FOREIGN["channels"])


def _states(sim) -> dict[str, dict]:
    server = sim.servers[0]
    parts = [*server.chips, *(c.hbm for c in server.chips), *server.links, server.host]
    states = {p.name: p.state() for p in parts}
    states.update({f"{c.hbm.name}/ch7": c.hbm.channel(7).state() for c in server.chips})
    return states


@pytest.mark.parametrize("pp", [1, 2], ids=["tp4", "tp2-pp2"])
@pytest.mark.parametrize("foreign", [False, True], ids=["uncontended", "contended"])
def test_closed_form_walks_report_what_events_report(monkeypatch, foreign, pp):
    _, _, fast, fast_summary = _run(foreign, pp)
    monkeypatch.setattr(Chip, "_idle", lambda self: False)  # every walk as events, the reference
    _, _, slow, slow_summary = _run(foreign, pp)
    assert_close(fast, slow)
    assert_close(fast_summary, slow_summary)


def assert_close(got, want) -> None:
    """Numbers within 1e-9 (relative), everything else (names, units, None) equal."""
    got, want = _flat(got), _flat(want)
    assert got.keys() == want.keys()
    numbers = {k for k, v in want.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert {k: got[k] for k in numbers} == pytest.approx({k: want[k] for k in numbers}, rel=1e-9)
    assert {k: got[k] for k in got.keys() - numbers} == {k: want[k] for k in want.keys() - numbers}


def _flat(tree, prefix: str = "") -> dict:
    """Nested dicts and lists as one {path: value} dict, which `approx` compares number by number."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else None
    if items is None:
        return {prefix: tree}
    return {path: v for k, sub in items for path, v in _flat(sub, f"{prefix}/{k}").items()}


def test_every_chip_of_a_replica_reports_its_share_of_the_replicas_work():
    sim, _, _, _ = _run()
    for replica in sim.replicas:
        stats, first = replica.stats, replica.index * 4
        assert stats.mem_bytes > 0
        for chip in sim.servers[0].chips[first:first + 4]:
            state = chip.state()
            assert state["hbm_bytes_moved"] == pytest.approx(stats.mem_bytes, rel=1e-9)
            assert state["macs"] == pytest.approx(stats.macs, rel=1e-9)


def test_a_swap_on_one_chips_memory_delays_the_step_it_hits():
    plain, plain_events, _, _ = _run()
    swapped, swapped_events, _, _ = _run(foreign=True)
    chip0, chip3 = (swapped.component(f"server0/chip{i}/hbm").state() for i in (0, 3))
    assert chip3["bytes_moved"] == pytest.approx(chip0["bytes_moved"] + FOREIGN["nbytes"], rel=1e-9)
    assert swapped.component("server0/chip2/hbm").state()["bytes_moved"] == chip0["bytes_moved"]
    before, after = (_steps(e, "server0/chip0") for e in (plain_events, swapped_events))
    k = next(i for i, (a, b) in enumerate(zip(before, after)) if a != b)  # the first step that differs
    start, dur = after[k]
    assert start == before[k][0] and start <= FOREIGN["at_s"] * 1e6 <= start + dur  # it was in flight
    assert 0 < dur - before[k][1] <= FOREIGN["hold_s"] * 1e6 * (1 + 1e-9)


def _steps(recorder, path: str) -> list[tuple[float, float]]:
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in recorder.events if e["name"] == "thread_name"}
    return [(e["ts"], e["dur"]) for e in recorder.events
            if e["ph"] == "X" and e["name"] == "step" and names[(e["pid"], e["tid"])] == path]
