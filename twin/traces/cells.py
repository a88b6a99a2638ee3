"""Conversion of single trace cells (CSV text or JSON values) into checked numbers.

Each converter raises ``CellError`` naming the column; the reader adds the file
and line and turns it into ``TraceFormatError`` (or drops the row in skip mode).
"""

from __future__ import annotations

import math

from twin.errors import quote


class CellError(ValueError):
    """One cell of one row cannot be used. Internal: readers add file and line."""

    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column
        self.message = message


# Far beyond any context window, and what the API's uint32 token fields carry.
MAX_TOKENS = 2**31 - 1
MAX_BLOCK_ID = 2**64 - 1  # block ids are hashes; the API carries them as uint64


def tokens(value: object, column: str) -> int:
    """A token count: an integer >= 1 (a request needs a prompt token to prefill and one output token)."""
    count = _integer(value, column)
    if not 1 <= count <= MAX_TOKENS:
        raise CellError(column, f"token count must be >= 1 and <= {MAX_TOKENS:,}, got {quote(count)}")
    return count


def seconds(value: object, column: str, scale: float = 1.0) -> float:
    """A non-negative, finite time; ``scale`` converts the column's unit to seconds."""
    number = _number(value, column)
    if not math.isfinite(number) or number < 0:
        raise CellError(column, f"time must be finite and >= 0, got {quote(value)}")
    return number * scale


def session(value: object) -> str | None:
    """A session id as text; empty or null means 'no session'."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def block_ids(value: object, column: str) -> tuple[int, ...]:
    """Prefix-block ids from a JSON list, a JSON object of lists (flattened in key order) or text.

    Text form (CSV) is ids separated by spaces, ';' or ',' with optional brackets.
    """
    if value is None or value == "":
        return ()
    if isinstance(value, dict):
        return tuple(_block(v, column) for part in value.values() for v in _as_list(part, column))
    if isinstance(value, str):
        parts = value.translate(_SEPARATORS).split()
        return tuple(_block(v, column) for v in parts)
    return tuple(_block(v, column) for v in _as_list(value, column))


def _block(value: object, column: str) -> int:
    block = _integer(value, column)
    if not 0 <= block <= MAX_BLOCK_ID:
        raise CellError(column, f"a block id must be in 0..2^64-1, got {quote(block)}")
    return block


_SEPARATORS = str.maketrans({"[": " ", "]": " ", ",": " ", ";": " "})


def _as_list(value: object, column: str) -> list:
    if not isinstance(value, list):
        raise CellError(column, f"expected a list of block ids, got {type(value).__name__}")
    return value


def _integer(value: object, column: str) -> int:
    # bool is an int subclass in Python; true/false in a token column is a data error.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    number = _number(value, column)
    if not number.is_integer():
        raise CellError(column, f"expected an integer, got {quote(value)}")
    return int(number)


def _number(value: object, column: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise CellError(column, f"expected a number, got {quote(value)}")
