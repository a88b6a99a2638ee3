"""A step's layers walked in closed form, and turned back into events when something contends.

One chip of a pair, three layers each holding every memory channel for 1.0 s and then the
chip's ESL port for 0.5 s, after 0.25 s of host scheduling and before 0.2 s of LM head:
uncontended the chip ends its layers 0.25 + 4.5 s after the step starts. Every expected instant below is worked out by
hand from first-come-first-served queueing for the channels and the port, not by the code.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import simpy

from twin.catalog import load_server
from twin.hw.chip import Chip
from twin.hw.cluster import LayerBackend
from twin.hw.host import Host
from twin.hw.link import EslLink
from twin.serving.cost import LayerCost

H = 0.25  # the host's scheduling before the chips start
HEAD = 0.2  # the LM head and sampler after the last layer
LAYER = LayerCost(mem_bytes=1e6, macs=1e9, vxe_elems=0.0, esl_exposed_s=0.5, esl_bytes=2e5,
                  mem_s=1.0, compute_s=0.4, vxe_s=0.1)


def _rig(step_at: float = 0.0):
    """A chip with its outgoing ESL link, run by a layer backend whose one step starts at `step_at`."""
    env, server = simpy.Environment(), load_server("lpu-8x-4nm")
    chip = Chip(env, server.chip, "chip0")
    chip.esl_out = link = EslLink(env, server.link, "link0")
    link.owner = chip
    host = Host(env, dataclasses.replace(server.host, step_overhead_s=H), 1, "host")
    cost = SimpleNamespace(layer=lambda shape: LAYER, head_time=lambda outputs: HEAD, model=SimpleNamespace(layers=3))
    backend, ends = LayerBackend(env, cost, [chip], host, 0, cached=lambda c: c), {}

    def step():
        yield env.timeout(step_at)
        yield from backend.step(SimpleNamespace(outputs=1), 0.0)
        ends["step"] = env.now
    env.process(step())
    return env, chip, ends


def _foreign(env, ends, use, at: float):
    """Something else streaming on the chip's memory or sending on its port from `at`."""
    yield env.timeout(at)
    yield from use()
    ends["foreign"] = env.now


@pytest.mark.parametrize("resource, at, hold_s, chips_end, foreign_end", [
    ("hbm", 0.2, 1.0, 5.0, 2.0),  # waits for layer 1's stream; layer 2 then waits for it
    ("hbm", 1.2, 1.0, 5.2, 2.2),  # channels free during the ESL phase: layer 2 waits until it is done
    ("esl", 0.2, 1.0, 4.7, 1.2),  # port free while streaming: layer 1's send waits until 1.2
    ("esl", 1.2, 0.3, 4.5, 1.8),  # waits for layer 1's send; nothing else is delayed
    ("hbm", 4.6, 1.0, 4.5, 5.6),  # during the LM head, after the layers: nothing to contend with
    ("hbm", -H, H + 0.3, 4.8, 0.3),  # holds 4 channels across the host's scheduling: the walk starts late
])
def test_contention_delays_exactly_as_queueing_says(resource, at, hold_s, chips_end, foreign_end):
    env, chip, ends = _rig()
    use = (lambda: chip.hbm.stream(5e5, hold_s, channels=4)) if resource == "hbm" else \
        (lambda: chip.esl_out.send(1e5, hold_s))
    env.process(_foreign(env, ends, use, H + at))
    env.run()
    assert ends["step"] == pytest.approx(H + chips_end + HEAD, abs=1e-12)
    assert ends["foreign"] == pytest.approx(H + foreign_end, abs=1e-12)
    if resource == "hbm":
        _assert_layers_counted(chip, hbm_extra=(5e5, hold_s * 4 / 64))
    else:
        _assert_layers_counted(chip, link_extra=1e5)


def test_a_chip_busy_when_the_step_starts_queues_for_its_channels():
    env, chip, ends = _rig(step_at=0.1)
    env.process(_foreign(env, ends, lambda: chip.hbm.stream(5e5, 1.0, channels=4), 0.0))
    env.run()
    assert ends["foreign"] == 1.0
    assert ends["step"] == pytest.approx(1.0 + 4.5 + HEAD, abs=1e-12)  # the first stream waited for the channels


def test_uncontended_walk_is_one_event_and_its_state_follows_the_timeline():
    env, chip, ends = _rig()
    hbm, link = chip.hbm, chip.esl_out
    expected = {0.5: (0, 0, 0, 0), 1.2: (64, 1, 1, 0), 1.6: (0, 1, 0, 1), 4.4: (64, 3, 1, 2)}
    for t, (free, streamed, sending, sent) in expected.items():
        env.run(until=H + t)
        assert chip.run is None  # nothing contended: no process walks the layers
        state = hbm.state()
        assert (state["channels_free"], state["bytes_moved"]) == (free, streamed * 1e6)
        assert chip.state()["macs"] == streamed * 1e9
        assert (link.state()["in_use"], link.state()["bytes_moved"]) == (sending, sent * 2e5)
    env.run()
    assert ends["step"] == pytest.approx(H + 4.5 + HEAD, abs=1e-12)
    _assert_layers_counted(chip)


def _assert_layers_counted(chip, hbm_extra=(0.0, 0.0), link_extra: float = 0.0) -> None:
    """Three layers' bytes, MACs and busy time, plus what a foreign stream or send added."""
    hbm, link = chip.hbm.state(), chip.esl_out.state()
    assert hbm["bytes_moved"] == pytest.approx(3e6 + hbm_extra[0], rel=1e-12)
    assert hbm["busy_s"] == pytest.approx(3 * 1.0 + hbm_extra[1], rel=1e-12)
    assert link["bytes_moved"] == pytest.approx(3 * 2e5 + link_extra, rel=1e-12)
    assert hbm["channels_free"] == 64 and link["in_use"] == 0
    assert chip.state()["macs"] == pytest.approx(3e9, rel=1e-12)
    assert chip.compute_busy_s == pytest.approx(3 * 0.4, rel=1e-12)
