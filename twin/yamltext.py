"""YAML from users, read so that its size in memory is bounded by its size as text.

A YAML alias (``*a``) repeats a node anchored earlier (``&a``); nested aliases expand
exponentially (a 1 KB "billion laughs" document is gigabytes once walked), and a deep nest of
``[[[...]]]`` overflows the recursive parts of the loaders. So, before any node is built, the
document's events are scanned (libyaml's parser keeps its own stack, not Python's): anchors and
aliases are refused, and so is nesting deeper than MAX_DEPTH. What passes is a plain tree no
larger than its text.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from twin.errors import InvalidSpec

# libyaml's safe loader where PyYAML was built with it (the same documents, about 10x faster: the
# catalogue is parsed at every start), else the pure-Python one.
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SAFE_LOADER(_BASE_LOADER):  # noqa: N801 (named as the loader constant it replaces)
    """The safe loader, with a number in exponent notation read as a number: YAML 1.1 (PyYAML) reads
    `25e-6` or `1E3` as text, since its floats need a dot; YAML 1.2 and users read them as numbers."""


SAFE_LOADER.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"))


def scalar(text: str) -> Any:
    """One scalar as the catalogue's YAML reads it (64 -> int, 25e-6 -> float, hbm3 -> str)."""
    return yaml.load(text, Loader=SAFE_LOADER)
MAX_DEPTH = 32  # a catalogue entry nests 3 or 4 levels; inline definitions 3 more
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def load(text: str, where: str) -> Any:
    """The document in `text`; InvalidSpec naming `where` if it is not YAML, uses anchors or nests too deep."""
    try:
        _check_events(text, where)
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        if "nesting depth" in str(getattr(exc, "problem", "")):  # libyaml's own bound on [[[...]]]
            raise InvalidSpec(where, f"nested deeper than {MAX_DEPTH} levels{line}") from None
        raise InvalidSpec(where, f"not valid YAML{line}") from None
    except ValueError:  # a scalar its constructor refuses: an integer of more than 4,300 digits
        raise InvalidSpec(where, "holds a number too long to read (more than 4,300 digits)") from None


def _check_events(text: str, where: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=SAFE_LOADER):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            line = event.start_mark.line + 1
            raise InvalidSpec(where, f"YAML anchors and aliases (&, *) are not allowed (line {line}): "
                                     "write each value out")
        if isinstance(event, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                raise InvalidSpec(where, f"nested deeper than {MAX_DEPTH} levels (line {event.start_mark.line + 1})")
        elif isinstance(event, _CLOSE):
            depth -= 1
