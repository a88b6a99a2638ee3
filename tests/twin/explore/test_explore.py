"""Design-space exploration: sweep expansion, the rate search, the Pareto front."""

from __future__ import annotations

import pytest

from twin.catalog import load_model, load_server
from twin.config import ClusterSpec
from twin.errors import InvalidSpec
from twin.explore.pareto import pareto_front
from twin.explore.search import at_rate, find_max_rate, mean_rate
from twin.explore.sweep import parse_set, sweep_points
from twin.replay import RunSpec, replay
from twin.serving.request import TraceRequest
from twin.sim import Simulation
from twin.summary import Slo

BASE = RunSpec(server="lpu-8x-4nm", model="llama2-7b", tp=8)


def test_hardware_axes_become_overrides_and_tp_follows_the_server() -> None:
    points = sweep_points(BASE, [parse_set("server=lpu-8x-4nm,h100x2"), parse_set("chip.mac_trees=32,64")], 8)
    assert [(p.spec.server, p.spec.tp, p.spec.overrides) for p in points] == [
        ("lpu-8x-4nm", 8, {"chip.mac_trees": 32}), ("lpu-8x-4nm", 8, {"chip.mac_trees": 64}),
        ("h100x2", 2, {"chip.mac_trees": 32}), ("h100x2", 2, {"chip.mac_trees": 64})]
    assert [p.applies for p in points] == [True, True, False, False]  # a GPU has no MAC trees
    assert points[1].spec.build().cluster.server.chip.mac_trees == 64


@pytest.mark.parametrize("text", ["mac_trees", "=1", "chip.mac_trees=", "bogus=1"])
def test_bad_axes_are_refused(text: str) -> None:
    with pytest.raises(InvalidSpec):
        sweep_points(BASE, [parse_set(text)], 8)


def test_bisection_finds_a_threshold_within_tolerance() -> None:
    calls = []
    search = find_max_rate(lambda r: calls.append(r) or (1.0 if r <= 7.3 else 0.5), first=1.0, rel_tol=0.01)
    assert 7.3 * 0.99 <= search.rate <= 7.3
    assert len(calls) < 20


def test_rescaled_arrivals_have_the_asked_mean_rate() -> None:
    reqs = [TraceRequest(i, 3.0 + 0.7 * i * (1 + (i % 3)), 10, 10) for i in range(50)]
    assert mean_rate(at_rate(reqs, 12.5)) == pytest.approx(12.5)


def _attainment(rate: float) -> float:
    """SLO attainment of a small, fixed mix at `rate` on one LPU (TTFT <= 0.5 s)."""
    reqs = at_rate([TraceRequest(i, float(i), 256 + 64 * (i % 4), 16) for i in range(60)], rate)
    sim = Simulation(ClusterSpec(load_server("lpu-8x-4nm"), tp=8, replicas=1), load_model("llama2-7b"))
    s = replay(sim, reqs, Slo(ttft_s=0.5)).summary
    return s["slo"]["attained_of_completed"] * s["requests"]["done"] / len(reqs)


def test_find_max_rate_agrees_with_a_brute_force_scan() -> None:
    search = find_max_rate(_attainment, first=2.0, target=0.9, rel_tol=0.02)
    scan = [r / 4 for r in range(1, 200)]
    brute = max(r for r in scan if _attainment(r) >= 0.9)
    assert search.rate == pytest.approx(brute, rel=0.05)


def test_pareto_front_keeps_points_no_other_beats_everywhere() -> None:
    rows = [{"g": 10, "j": 1.0}, {"g": 8, "j": 0.5}, {"g": 7, "j": 0.9}, {"g": 10, "j": 1.2}, {"g": None, "j": 0.1}]
    assert pareto_front(rows, {"g": "max", "j": "min"}) == [0, 1, 4]


def test_a_hardware_field_a_server_lacks_is_marked_not_applying_even_when_limits_are_checked() -> None:
    """chip.mac_trees swept over an LPU and a GPU server: the GPU's points are kept and shown n/a, also when the
    caller's limit check (which builds the server) runs first, as the CLI's does."""
    from services.limits import RunLimits
    from twin.explore.sweep import sweep_points
    from twin.replay import RunSpec
    points = sweep_points(RunSpec("lpu-8x-4nm", "llama2-7b", tp=8),
                          [("server", ["lpu-8x-4nm", "dgx-h100"]), ("chip.mac_trees", ["32", "64"])], 16,
                          check=RunLimits.from_env().check_spec)
    gpu = [p for p in points if p.values["server"] == "dgx-h100"]
    assert len(gpu) == 2 and all(not p.applies and "a GPU has no MAC trees" in p.error for p in gpu)
    assert all(p.applies and not p.error for p in points if p.values["server"] == "lpu-8x-4nm")


def test_the_limiting_budget_is_the_one_most_used_and_a_range_is_replaced_by_space() -> None:
    from twin.explore.design import limiting_budget
    from twin.explore.space import merged_space, parse_constraint

    limits = [parse_constraint("total_mm2<=400"), parse_constraint("chip_power_w<=100"),
              parse_constraint("slo_attained>=0.9"), parse_constraint("ttft_p99_s<=2")]  # not budgets: ignored
    figures = {"total_mm2": 300.0, "chip_power_w": 90.0, "slo_attained": 0.95, "ttft_p99_s": 1.99}
    assert limiting_budget(figures, limits) == ("chip_power_w", 90.0, 100.0, 0.9)
    assert limiting_budget({"slo_attained": 1.0}, limits) is None
    dims = merged_space({"chip.mac_trees": "8..128", "chip.lanes": "32,64"}, ["chip.lanes=64", "max_batch=16,32"])
    assert [(d.field, d.kind) for d in dims] == [("chip.mac_trees", "int"), ("chip.lanes", "choice"),
                                                  ("max_batch", "choice")]
    assert dims[0].low == 8 and dims[0].high == 128 and dims[1].choices == (64,)
