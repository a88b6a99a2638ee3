"""Reading a user's small text file (a catalogue entry, a policy, a config.json) without trusting it.

Only a regular file is read (a symlink to one is fine): a FIFO would block for ever and
``/dev/zero`` never ends. The size is checked on the open file before anything is read, and the
read itself stops one byte past the limit, so a file that grows meanwhile is refused too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from twin.errors import InvalidSpec


def read_text(path: str | Path, limit_bytes: int, where: str | None = None) -> str:
    """The UTF-8 text of the regular file `path`, at most `limit_bytes` long; InvalidSpec naming it otherwise."""
    where = where or str(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # before opening: opening a device may itself act
            raise InvalidSpec(where, "is not a regular file")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO swapped in must not block
        with os.fdopen(fd, "rb") as f:
            return _bounded(f, limit_bytes, where).decode()
    except OSError as exc:
        raise InvalidSpec(where, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError:
        raise InvalidSpec(where, "cannot be read: not UTF-8 text (a binary file?)") from None


def _bounded(f, limit_bytes: int, where: str) -> bytes:
    info = os.fstat(f.fileno())
    if not stat.S_ISREG(info.st_mode):
        raise InvalidSpec(where, "is not a regular file")
    if info.st_size > limit_bytes:
        raise InvalidSpec(where, f"larger than its limit of {_size(limit_bytes)}")
    data = f.read(limit_bytes + 1)
    if len(data) > limit_bytes:
        raise InvalidSpec(where, f"larger than its limit of {_size(limit_bytes)}")
    return data


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n % (1024 * 1024) == 0 else f"{n // 1024} KB"
