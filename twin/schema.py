"""The JSON Schema of a run's summary, generated from its types (twin.result_types).

    python -m twin.schema > docs/summary.schema.json

TypedDicts become closed objects (their keys, required unless NotRequired); dict[str, X] an object of X
by any key; list[X] an array; X | None either; Literal an enum. tests/twin/test_summary_schema.py holds
the committed file equal to this output and validates real runs of every architecture against it.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from typing import Any, Literal, NotRequired, get_args, get_origin, get_type_hints, is_typeddict

from twin import result_types

SCHEMA_ID = "https://lpu-twin.example/summary.schema.json"
PRIMITIVES = {float: {"type": "number"}, int: {"type": "integer"}, str: {"type": "string"},
              bool: {"type": "boolean"}, type(None): {"type": "null"}}


def _schema(tp: Any, defs: dict[str, dict]) -> dict:
    origin = get_origin(tp)
    if tp in PRIMITIVES:
        return dict(PRIMITIVES[tp])
    if is_typeddict(tp):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # placeholder: a type that refers to itself stops here
            defs[tp.__name__] = _object(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    if origin is NotRequired:
        return _schema(get_args(tp)[0], defs)
    if origin in (types.UnionType, typing.Union):
        return {"anyOf": [_schema(arg, defs) for arg in get_args(tp)]}
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(get_args(tp)[1], defs)}
    if origin is list:
        return {"type": "array", "items": _schema(get_args(tp)[0], defs)}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _object(tp: Any, defs: dict[str, dict]) -> dict:
    hints = get_type_hints(tp, include_extras=True)
    out = {"type": "object", "properties": {name: _schema(hint, defs) for name, hint in hints.items()},
           "required": sorted(tp.__required_keys__), "additionalProperties": False}
    if tp.__doc__ and tp.__doc__ is not dict.__doc__ and not tp.__doc__.startswith(tp.__name__ + "("):
        out["description"] = " ".join(tp.__doc__.split())
    return out


def summary_schema() -> dict:
    defs: dict[str, dict] = {}
    root = _schema(result_types.Summary, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "lpu-twin run summary", "description": " ".join((result_types.__doc__ or "").split()),
            **root, "$defs": dict(sorted(defs.items()))}


def render() -> str:
    return json.dumps(summary_schema(), indent=1, sort_keys=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
