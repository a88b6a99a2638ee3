"""Search spaces, objectives and constraints as the user writes them."""

from __future__ import annotations

import math

import pytest

from twin.errors import InvalidSpec
from twin.explore.space import Constraint, parse_constraint, parse_objective, parse_space


def test_ranges_take_their_kind_from_the_field_or_from_their_ends() -> None:
    assert parse_space("max_batch=8..64:log").kind == "int" and parse_space("max_batch=8..64:log").log
    assert parse_space("chip.mac_trees=16..64").kind == "int"
    clock = parse_space("chip.clock_ghz=0.8..1.6")
    assert (clock.kind, clock.low, clock.high, clock.log) == ("float", 0.8, 1.6, False)
    assert parse_space("tp=1,2,4").choices == (1, 2, 4)
    assert parse_space("pd=none,1:1").choices == (None, "1:1")  # as `twin sweep --set` reads them


@pytest.mark.parametrize("text, fragment", [
    ("max_batch=64..8", "is an empty range"), ("bogus=1..4", "cannot sweep 'bogus'"),
    ("server=1..4", "takes names, not a range"), ("max_batch=0..8:log", "must start above 0"),
    ("max_batch=1.5..8", "whole numbers"), ("max_batch", "must look like FIELD=")])
def test_bad_spaces_are_refused_naming_the_rule(text: str, fragment: str) -> None:
    with pytest.raises(InvalidSpec, match=fragment):
        parse_space(text)


def test_objectives_need_a_known_name_and_a_direction() -> None:
    assert parse_objective("goodput:max").figure == "goodput_rps"
    with pytest.raises(InvalidSpec, match="needs a direction"):
        parse_objective("goodput")
    with pytest.raises(InvalidSpec, match="unknown objective"):
        parse_objective("speed:max")


def test_a_constraint_is_met_at_or_below_zero_and_unmeasured_is_not_met() -> None:
    area = parse_constraint("total_mm2<=400")
    assert area == Constraint("total_mm2", "<=", 400.0)
    assert area.violation({"total_mm2": 350.0}) == -50.0 and area.violation({"total_mm2": 410.0}) == 10.0
    assert parse_constraint("slo_attained>=0.9").violation({"slo_attained": 0.8}) == pytest.approx(0.1)
    assert area.violation({}) > 0 and area.violation({"total_mm2": math.nan}) > 0
    with pytest.raises(InvalidSpec, match="unknown figure 'area'"):
        parse_constraint("area<=400")
