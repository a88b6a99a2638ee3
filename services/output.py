"""Files the CLI writes (`twin report -o`, `twin runs export -o`): whole or not at all, never through a
symlink, never over an existing file unless asked, `-` for standard output.

The writer fills a temporary file in the target's folder, which is renamed onto the target only once
it is complete: a failure (a full device, Ctrl-C) leaves the old file as it was and no partial one.
A rename replaces a symlink itself, so nothing is written where a planted link points.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, TypeVar

from twin.errors import InvalidSpec

STDOUT = "-"
T = TypeVar("T")


def write_output(target: str | Path, force: bool, write: Callable[[Path], T]) -> T:
    """`write(path)` into a temporary file, then moved onto `target` (or copied to stdout for '-')."""
    target = str(target)
    folder = Path(tempfile.gettempdir()) if target == STDOUT else _checked_folder(Path(target), force)
    tmp = None
    try:
        tmp = _new_file(folder)
        result = write(tmp)
        _publish(tmp, target)
        return result
    except OSError as exc:
        raise InvalidSpec(target, f"cannot be written ({exc.strerror or type(exc).__name__})") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _new_file(folder: Path) -> Path:
    """A new empty file in `folder` with the permissions the umask gives (mkstemp's are 0600)."""
    while True:
        path = folder / f".twin-{secrets.token_hex(8)}.part"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return path
        except FileExistsError:
            continue


def check_output(target: str | Path, force: bool) -> None:
    """Refuse a target that write_output would refuse, before any work is done for it."""
    if str(target) != STDOUT:
        _checked_folder(Path(target), force)


def _checked_folder(path: Path, force: bool) -> Path:
    if not path.parent.is_dir():
        raise InvalidSpec(str(path), f"folder {str(path.parent)[:200]!r} does not exist")
    if path.is_dir():
        raise InvalidSpec(str(path), "is a folder")
    if os.path.lexists(path) and not force:
        raise InvalidSpec(str(path), "already exists; pass --force to replace it")
    return path.parent


def _publish(tmp: Path, target: str) -> None:
    if target == STDOUT:
        with tmp.open("rb") as f:
            sys.stdout.flush()
            shutil.copyfileobj(f, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        return
    os.replace(tmp, target)
