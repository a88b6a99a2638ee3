"""A search's design space, objectives and constraints, parsed and checked (no optimiser here).

    --space chip.mac_trees=16..64        an integer range (both ends whole numbers)
    --space chip.clock_ghz=0.8..1.6:log  a real range, sampled on a log scale
    --space max_batch=16,32,64           a choice (any sweep axis: its values as `twin sweep --set` reads them)
    --objective goodput:max  --objective total_mm2:min
    --constraint total_mm2<=400  --constraint slo_attained>=0.9  --constraint chip_power_w<=120

A dimension's field is any sweep axis (twin.explore.sweep); an objective or a constraint names one
of a point's figures. A constraint's violation follows the usual convention of constrained
optimisers: <= 0 when met, the amount it is missed by otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from twin.errors import InvalidSpec, quote
from twin.explore.sweep import HARDWARE_PREFIXES, SERVING_FIELDS, SPEC_FIELDS, _axis, _scalar

# objective name -> the figure it reads (a point's figures: services' sweep view, plus goodput_rps)
OBJECTIVES = {"goodput": "goodput_rps", "output_tokens_per_s": "output_tokens_per_s", "ttft_p99_s": "ttft_p99_s",
              "tpot_p99_s": "tpot_p99_s", "j_per_output_token": "j_per_output_token",
              "output_tok_s_per_kw": "output_tok_s_per_kw", "total_mm2": "total_mm2", "avg_power_w": "avg_power_w",
              "peak_power_w": "peak_power_w", "die_mm2": "die_mm2", "chip_power_w": "chip_power_w"}
# die_mm2 and chip_power_w are one chip's (twin.explore.design); the others the run's
FIGURES = ("goodput_rps", "output_tokens_per_s", "ttft_p99_s", "tpot_p99_s", "slo_attained", "j_per_output_token",
           "output_tok_s_per_kw", "avg_power_w", "peak_power_w", "total_mm2", "die_mm2", "chip_power_w")
DIRECTIONS = ("max", "min")


@dataclass(frozen=True)
class Dimension:
    field: str
    kind: str  # "int", "float" or "choice"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    def to_dict(self) -> dict:
        return {"field": self.field, "kind": self.kind, "low": self.low, "high": self.high, "log": self.log,
                "choices": list(self.choices)}


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "max" or "min"

    @property
    def figure(self) -> str:
        return OBJECTIVES[self.name]

    def worst(self) -> float:
        """The value a point that cannot run scores: never better than one that can."""
        return -math.inf if self.direction == "max" else math.inf


@dataclass(frozen=True)
class Constraint:
    figure: str
    op: str  # "<=" or ">="
    bound: float

    def violation(self, figures: Mapping[str, float | None]) -> float:
        value = figures.get(self.figure)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return 1.0  # not measured (the point did not run): not met
        return value - self.bound if self.op == "<=" else self.bound - value

    def __str__(self) -> str:
        return f"{self.figure}{self.op}{self.bound:g}"


def parse_space(text: str) -> Dimension:
    """``FIELD=LO..HI[:log]`` or ``FIELD=V1,V2,...`` as a Dimension; InvalidSpec naming --space otherwise."""
    field, sep, rest = text.partition("=")
    field, rest = field.strip(), rest.strip()
    if not sep or not field or not rest:
        raise InvalidSpec("--space", f"{quote(text[:80])} must look like FIELD=LO..HI, FIELD=LO..HI:log or "
                                     "FIELD=V1,V2,...")
    if ".." not in rest:
        try:
            _, values = _axis(0, field, [v.strip() for v in rest.split(",") if v.strip()])
        except InvalidSpec as exc:
            raise InvalidSpec("--space", exc.message) from None
        return Dimension(field, "choice", choices=tuple(values))
    return _range(field, rest)


def _range(field: str, rest: str) -> Dimension:
    body, _, scale = rest.partition(":")
    if scale not in ("", "log"):
        raise InvalidSpec("--space", f"{field}: the only scale is :log, got {quote(scale[:20])}")
    lo_text, _, hi_text = body.partition("..")
    kind = _range_kind(field, lo_text.strip(), hi_text.strip())
    try:
        lo, hi = (int(lo_text), int(hi_text)) if kind == "int" else (float(lo_text), float(hi_text))
    except ValueError:
        what = "whole numbers" if kind == "int" else "numbers"
        raise InvalidSpec("--space", f"{field}={quote(body[:40])}: both ends must be {what}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidSpec("--space", f"{field}: both ends must be finite")
    if lo > hi:
        raise InvalidSpec("--space", f"{field}={body[:40]} is an empty range (its low end is above its high end)")
    if scale == "log" and lo <= 0:
        raise InvalidSpec("--space", f"{field}: a :log range must start above 0")
    return Dimension(field, kind, lo, hi, scale == "log")


def _range_kind(field: str, lo: str, hi: str) -> str:
    if field.startswith(HARDWARE_PREFIXES):
        return "int" if all(isinstance(_scalar(v), int) and not isinstance(_scalar(v), bool) for v in (lo, hi)) \
            else "float"
    kind = SPEC_FIELDS.get(field) or SERVING_FIELDS.get(field)
    if kind is None:
        try:
            _axis(0, field, [lo])  # raises naming the sweepable fields
        except InvalidSpec as exc:
            raise InvalidSpec("--space", exc.message) from None
    if kind not in (int, float):
        raise InvalidSpec("--space", f"{field} takes names, not a range: give {field}=V1,V2,...")
    return "int" if kind is int else "float"


def parse_objective(text: str) -> Objective:
    name, sep, direction = text.strip().partition(":")
    if name not in OBJECTIVES:
        raise InvalidSpec("--objective", f"unknown objective {quote(name[:80])} (known: {', '.join(OBJECTIVES)})")
    if not sep or direction not in DIRECTIONS:
        raise InvalidSpec("--objective", f"{name} needs a direction: {name}:max or {name}:min")
    return Objective(name, direction)


def parse_constraint(text: str) -> Constraint:
    for op in ("<=", ">="):
        figure, sep, bound = text.partition(op)
        if sep:
            break
    else:
        raise InvalidSpec("--constraint", f"{quote(text[:80])} must look like FIGURE<=NUMBER or FIGURE>=NUMBER")
    figure = figure.strip()
    if figure == "goodput":
        figure = "goodput_rps"
    if figure not in FIGURES:
        raise InvalidSpec("--constraint", f"unknown figure {quote(figure[:80])} (known: {', '.join(FIGURES)})")
    try:
        value = float(bound)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidSpec("--constraint", f"{figure}{op}{quote(bound.strip()[:40])}: the bound must be a finite number")
    return Constraint(figure, op, value)


def merged_space(template: Mapping[str, str], spaces: list[str]) -> list[Dimension]:
    """A template server's dimensions (its `template:` mapping, as --space reads them), each replaced by a
    --space of the same field, then the other --space dimensions added in their order."""
    given = [parse_space(s) for s in spaces]
    fields = [d.field for d in given]
    if len(set(fields)) != len(fields):
        raise InvalidSpec("--space", "give each field once")
    mine = {d.field: d for d in given}
    out = []
    for field, text in template.items():
        if field in mine:
            out.append(mine.pop(field))
            continue
        try:
            out.append(parse_space(f"{field}={text}"))
        except InvalidSpec as exc:
            raise InvalidSpec("template", f"the server's template: {exc.message}") from None
    return out + list(mine.values())
