"""Sweep points: the cartesian product of a few spec fields over a base replay spec."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Sequence

from twin.errors import CapacityExceeded, InvalidSpec
from twin.replay import RunSpec

SPEC_FIELDS = {"server": str, "model": str, "servers": int, "tp": int, "replicas": int, "weights": str, "kv": str}
SERVING_FIELDS = {"max_batch": int, "policy": str, "chunk_tokens": int, "preemption": str, "router": str,
                  "fidelity": str}


@dataclasses.dataclass(frozen=True)
class Point:
    values: dict[str, str | int]  # the swept fields' values at this point
    spec: RunSpec
    error: str = ""  # why the point cannot run (it does not fit); empty if it can


def sweep_points(base: RunSpec, axes: Sequence[tuple[str, Sequence[str]]], max_points: int) -> list[Point]:
    """Every point, checked: a bad field or value raises; a point that does not fit is kept, marked."""
    parsed = [_axis(i, field, values) for i, (field, values) in enumerate(axes)]
    if not parsed:
        raise InvalidSpec("axes", "a sweep needs at least one axis")
    count = 1
    for _, values in parsed:
        count *= len(values)
    if count > max_points:
        raise CapacityExceeded(f"the sweep has {count} points; at most {max_points} are allowed")
    names = [field for field, _ in parsed]
    return [_point(base, dict(zip(names, combo))) for combo in itertools.product(*(v for _, v in parsed))]


def _axis(index: int, field: str, values: Sequence[str]) -> tuple[str, list]:
    kind = SPEC_FIELDS.get(field) or SERVING_FIELDS.get(field)
    if kind is None:
        known = ", ".join([*SPEC_FIELDS, *SERVING_FIELDS])
        raise InvalidSpec(f"axes[{index}].field", f"cannot sweep {field!r} (sweepable: {known})")
    if not values:
        raise InvalidSpec(f"axes[{index}].values", f"give at least one value for {field}")
    try:
        return field, [kind(v) for v in values]
    except ValueError:
        raise InvalidSpec(f"axes[{index}].values", f"{field} takes whole numbers, got {list(values)}") from None


def _point(base: RunSpec, values: dict) -> Point:
    spec_changes = {k: v for k, v in values.items() if k in SPEC_FIELDS}
    serving = dataclasses.replace(base.serving, **{k: v for k, v in values.items() if k in SERVING_FIELDS})
    spec = dataclasses.replace(base, serving=serving, **spec_changes)
    try:
        spec.build()
    except CapacityExceeded as exc:
        return Point(values, spec, str(exc))
    return Point(values, spec)
