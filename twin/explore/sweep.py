"""Sweep points: the cartesian product of spec fields over a base run spec.

A field is a RunSpec field (server, model, servers, tp, replicas, weights, kv), a serving field (every
sweepable row of twin.serving.fields: max_batch, policy, pd, prefill_server, speculative, prefix_cache...;
"none" unsets an optional one) or a hardware field of the server's
chip, link, server or model (``chip.mac_trees``, ``chip.memory.bandwidth_per_stack_gbps``,
``link.bandwidth_gbit_s``, ``model.layers``...), which becomes a per-run override. Every point is
built before anything runs: a bad field or value raises naming the axis; a point that does not fit
is kept and marked, so a sweep can show where a design stops fitting.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Sequence

from twin import yamltext
from twin.errors import CapacityExceeded, InvalidSpec, TwinError
from twin.replay import RunSpec
from twin.serving.fields import BY_NAME, SWEEPABLE

SPEC_FIELDS = {"server": str, "model": str, "servers": int, "tp": int, "pp": int, "ep": int, "replicas": int, "weights": str,
               "kv": str}
SERVING_FIELDS = SWEEPABLE  # every serving field a sweep may vary (twin.serving.fields)
HARDWARE_PREFIXES = ("chip.", "link.", "server.", "model.")
MAX_AXES = 8


@dataclasses.dataclass(frozen=True)
class Point:
    values: dict[str, str | int | float]  # the swept fields' values at this point
    spec: RunSpec
    error: str = ""  # why the point cannot run (it does not fit); empty if it can
    applies: bool = True  # False: a hardware field this point's hardware does not have (chip.mac_trees on a GPU)


def parse_set(text: str) -> tuple[str, list[str]]:
    """``FIELD=V1,V2,...`` as (field, values); InvalidSpec naming the option otherwise."""
    field, sep, values = text.partition("=")
    if not sep or not field.strip() or not values.strip():
        raise InvalidSpec("--set", f"{text[:80]!r} must look like FIELD=V1,V2,...")
    return field.strip(), [v.strip() for v in values.split(",") if v.strip()]


def sweep_points(base: RunSpec, axes: Sequence[tuple[str, Sequence[str]]], max_points: int,
                 check: Callable[[RunSpec], None] = lambda spec: None) -> list[Point]:
    """Every point, checked: a bad field or value raises, as does a point `check` refuses before it
    is built (a run over the caller's limits); a point that does not fit is kept, marked."""
    if not axes:
        raise InvalidSpec("axes", "a sweep needs at least one axis")
    if len(axes) > MAX_AXES:
        raise InvalidSpec("axes", f"at most {MAX_AXES} axes")
    parsed = [_axis(i, field, values) for i, (field, values) in enumerate(axes)]
    count = 1
    for _, values in parsed:
        count *= len(values)
    if count > max_points:
        raise CapacityExceeded(f"the sweep has {count} points; at most {max_points} are allowed")
    names = [field for field, _ in parsed]
    return [_point(base, dict(zip(names, combo)), check) for combo in itertools.product(*(v for _, v in parsed))]


def _axis(index: int, field: str, values: Sequence[str]) -> tuple[str, list]:
    if not values:
        raise InvalidSpec(f"axes[{index}].values", f"give at least one value for {field}")
    if field.startswith(HARDWARE_PREFIXES):
        return field, [_scalar(v) for v in values]
    kind = SPEC_FIELDS.get(field) or SERVING_FIELDS.get(field)
    if kind is None:
        known = ", ".join([*SPEC_FIELDS, *SERVING_FIELDS, "chip.FIELD", "link.FIELD", "server.FIELD", "model.FIELD"])
        raise InvalidSpec(f"axes[{index}].field", f"cannot sweep {field[:80]!r} (sweepable: {known})")
    optional = field in BY_NAME and BY_NAME[field].optional
    try:  # an optional field's "none" is its unset value: pd=none,1:1 compares colocated with disaggregated
        return field, [None if optional and str(v).lower() == "none" else kind(v) for v in values]
    except ValueError:
        what = "whole numbers" if kind is int else "numbers"
        raise InvalidSpec(f"axes[{index}].values", f"{field} takes {what}, got {list(values)[:8]}") from None


def _scalar(text: str):
    """A hardware value as the catalogue's YAML reads it (64 -> int, 25e-6 -> float, hbm3 -> str)."""
    value = yamltext.scalar(text) if isinstance(text, str) else text
    if not isinstance(value, (int, float, str, bool)):
        raise InvalidSpec("--set", f"{str(text)[:40]!r} is not a number or a word")
    return value


def _point(base: RunSpec, values: dict, check: Callable[[RunSpec], None]) -> Point:
    spec_changes = {k: v for k, v in values.items() if k in SPEC_FIELDS}
    overrides = {**(base.overrides or {}), **{k: v for k, v in values.items() if k.startswith(HARDWARE_PREFIXES)}}
    serving = dataclasses.replace(base.serving, **{k: v for k, v in values.items() if k in SERVING_FIELDS})
    if "server" in spec_changes and "tp" not in spec_changes and base.tp == _chips(base):
        spec_changes["tp"] = None  # tp followed the base server's chip count: follow the new server's
    spec = dataclasses.replace(base, serving=serving, overrides=overrides or None, **spec_changes)
    if spec.tp is None:
        spec = dataclasses.replace(spec, tp=_chips(spec) or 1)
    try:
        check(spec)  # the caller's limits: over them the whole sweep is refused (CapacityExceeded passes up)
    except InvalidSpec as exc:  # the point's hardware cannot be built to check it (chip.mac_trees on a GPU)
        return _not_applying(values, spec, overrides, exc)
    try:
        spec.build()
    except CapacityExceeded as exc:
        return Point(values, spec, str(exc))
    except InvalidSpec as exc:
        return _not_applying(values, spec, overrides, exc)
    return Point(values, spec)


def _not_applying(values: dict, spec: RunSpec, overrides: dict, exc: InvalidSpec) -> Point:
    """A point whose hardware lacks a swept hardware field: kept and shown n/a; any other bad point refuses."""
    if not overrides:
        raise exc
    return Point(values, spec, f"does not apply: {exc.field.rsplit('.', 1)[-1]}: {exc.message}", applies=False)


def _chips(spec: RunSpec) -> int | None:
    """Chips per server of the spec's server (with its server.chips override, if any)."""
    try:
        data = spec.catalog().entry("servers", spec.server).data
    except TwinError:
        return None
    return (spec.overrides or {}).get("server.chips", data.get("chips"))
