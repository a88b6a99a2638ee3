"""Error messages for users: one line, bounded, whatever the error carried.

Status details travel in a gRPC trailer (capped at a few kB) and CLI errors on one
terminal line, so a database error spanning a SQL dump, or an error quoting a 1 MB
value, is cut to its first `MAX_CHARS` characters.
"""

from __future__ import annotations

MAX_CHARS = 1000


def one_line(exc: BaseException, limit: int = MAX_CHARS) -> str:
    """The error's message on one line, at most `limit` characters; a database error gives
    the driver's own message (e.g. 'attempt to write a readonly database'), not the SQL."""
    orig = getattr(exc, "orig", None)  # sqlalchemy.exc.DBAPIError keeps the driver's error here
    text = f"database error: {orig}" if orig is not None else str(exc)
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
