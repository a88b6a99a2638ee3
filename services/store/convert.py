"""Conversions between the twin's records and table rows, and checks on what callers pass in."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from services.store.rows import RunInfo
from twin.errors import InvalidSpec, quote
from twin.metrics import RequestRecord, SeriesSample

_E = TypeVar("_E", bound=enum.Enum)
_R = TypeVar("_R", bound=RunInfo)


def parse(enum_type: type[_E], field: str, value: str) -> _E:
    """`value` as a member of `enum_type`; InvalidSpec lists the allowed values otherwise."""
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(str(e.value) for e in enum_type)
        raise InvalidSpec(field, f"{quote(value)} is not one of: {allowed}") from None


def jsonable(field: str, value: dict) -> dict:
    """`value` as the database will give it back. JSON has no NaN or infinity: they become null."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidSpec(field, f"must be JSON-serialisable: {exc}") from None
    return json.loads(text, parse_constant=lambda _: None)


def optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def nan_if_null(value: float | None) -> float:
    # SQLite stores NaN as NULL, and these columns hold no other NULLs.
    return math.nan if value is None else value


REQUEST_COLUMNS = ("run_id", "request_id", "replica", "state", "arrival_s", "input_tokens", "output_tokens",
                   "first_token_s", "finish_s", "preemptions", "reason")
SERIES_COLUMNS = ("run_id", "t_s", "name", "value")


def request_values(run_id: str, r: RequestRecord) -> tuple:
    """A request record's REQUEST_COLUMNS. Explicit casts: numpy scalars would reach the driver
    otherwise, which cannot bind them."""
    return (run_id, int(r.request_id), int(r.replica), str(r.state), float(r.arrival_s), int(r.input_tokens),
            int(r.output_tokens), optional_float(r.first_token_s), optional_float(r.finish_s), int(r.preemptions),
            str(r.reason))


def series_values(run_id: str, s: SeriesSample) -> tuple:
    return run_id, float(s.t_s), str(s.name), float(s.value)


def component_rows(run_id: str, components: dict[str, dict[str, float]]) -> list[dict]:
    return [
        {"run_id": run_id, "component": component, "metric": metric, "value": float(value)}
        for component, metrics in components.items()
        for metric, value in metrics.items()
    ]


def utc(value: datetime | None) -> datetime | None:
    # Every stored time is UTC; SQLite keeps no offset, so put it back.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def detached(cls: type[_R], source: Any) -> _R:
    """A plain dataclass copied from a result row or ORM object, usable after the session ends."""
    values = {f.name: getattr(source, f.name) for f in fields(cls)}
    values.update(created_at=utc(source.created_at), finished_at=utc(source.finished_at))
    return cls(**values)
