"""Domain errors of the twin. Outer layers map them to exit codes or gRPC status codes."""

from __future__ import annotations

QUOTE_CHARS = 60  # at most this much of a user's value is echoed in an error


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """`repr` of a user-supplied value, cut to `limit` characters (and saying how long it was).

    Errors travel back to users (gRPC trailers are limited to a few kB): a 1 MB name must
    not come back whole.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text) if isinstance(value, str) else text
    return f"{text[:limit]!r}... ({len(text):,} characters)"


class TwinError(Exception):
    """Base of every error the twin raises on purpose."""


class InvalidSpec(TwinError):
    """A specification breaks a rule; ``field`` names the offending field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownName(TwinError):
    """A catalogue entry, trace, run or component that does not exist."""

    def __init__(self, kind: str, name: str, known: list[str] | None = None):
        hint = f" (known: {', '.join(sorted(known))})" if known else ""
        super().__init__(f"unknown {kind} {quote(name)}{hint}")
        self.kind = kind
        self.name = name


class CapacityExceeded(TwinError):
    """Something does not fit: a model in memory, a request in the KV cache, an upload."""


class TraceFormatError(TwinError):
    """A trace row that cannot be read. Names the file, the 1-based line and the column."""

    def __init__(self, path: str, line: int, column: str, message: str):
        super().__init__(f"{path}:{line}: column {quote(column)}: {message}")
        self.path = path
        self.line = line
        self.column = column
        self.message = message


class NotRunning(TwinError):
    """An operation that needs a live simulation or run was asked of one that is not."""
