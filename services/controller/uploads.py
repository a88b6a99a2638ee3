"""Uploaded traces: written to one configured folder as they stream in, size-limited, checked
on arrival, kept for a set time after their last use.

A malformed file is refused at upload with the error naming its line; an accepted one is
replayed by id. Nothing is kept of a refused upload. Each upload is a folder
``<folder>/<upload id>/`` holding the file and ``upload.json``, so an id survives a restart of
the controller, and controllers sharing the folder share the uploads. An upload unused for
``ttl_s`` (a replay of it counts as a use) is deleted; a run does not need it once started,
since its requests were read when the replay began.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from twin.errors import CapacityExceeded, InvalidSpec, TraceFormatError, UnknownName, quote
from twin.traces import LoadedTrace, TraceOptions, load_trace

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_TTL_S = 24 * 3600.0
MANIFEST = "upload.json"
MAX_NAME_BYTES = 200  # of an uploaded file's name: under the 255 bytes file systems allow
_ID = re.compile(r"[0-9a-f]{32}")


def default_folder() -> Path:
    """One folder for every controller start (not a new temporary folder each time)."""
    return Path(tempfile.gettempdir()) / "twin-uploads"


@dataclass(frozen=True)
class Upload:
    upload_id: str
    name: str
    fmt: str | None
    path: Path
    size_bytes: int


class UploadStore:
    def __init__(self, folder: str | Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                 ttl_s: float = DEFAULT_TTL_S):
        self.folder = Path(folder) if folder else default_folder()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.ttl_s = max_bytes, ttl_s
        self._lock = threading.Lock()
        # The latest trace read, by (upload id, options): a replay of an upload just checked on
        # arrival reuses what the check read instead of parsing the file again. One only, so
        # memory stays bounded by one upload; an upload never changes, so it cannot go stale.
        self._last: tuple[tuple[str, TraceOptions], LoadedTrace] | None = None
        self.clean()

    def receive(self, chunks: Iterable[tuple[str, str, bytes]]) -> tuple[Upload, LoadedTrace]:
        """Write (name, format, data) chunks to a new file, check it reads, and register it."""
        self.clean()
        upload_id = uuid.uuid4().hex
        folder = self.folder / upload_id
        folder.mkdir(parents=True)
        try:
            upload = self._write(upload_id, folder, chunks)
            trace = self.load(upload)
            (folder / MANIFEST).write_text(json.dumps({"name": upload.name, "format": upload.fmt,
                                                       "size_bytes": upload.size_bytes}))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return upload, trace

    def _write(self, upload_id: str, folder: Path, chunks: Iterable[tuple[str, str, bytes]]) -> Upload:
        name, fmt, size, out = "", None, 0, None
        try:
            for chunk_name, chunk_fmt, data in chunks:
                if out is None:
                    name, fmt = _safe_name(chunk_name), chunk_fmt or None
                    out = (folder / name).open("wb")
                size += len(data)
                if size > self.max_bytes:
                    raise CapacityExceeded(f"upload {quote(name)} exceeds the {self.max_bytes:,}-byte limit "
                                           "(max_upload_bytes: set TWIN_MAX_UPLOAD_BYTES in the controller's "
                                           "environment to raise it)")
                out.write(data)
        finally:
            if out is not None:
                out.close()
        if out is None or size == 0:
            raise InvalidSpec("data", "the upload is empty")
        return Upload(upload_id, name, fmt, folder / name, size)

    def load(self, upload: Upload, options: TraceOptions | None = None) -> LoadedTrace:
        """The upload read as a trace; errors name the uploaded file, not where it is kept."""
        options = options or TraceOptions()
        if upload.fmt and not options.fmt:
            options = dataclasses.replace(options, fmt=upload.fmt)
        key, last = (upload.upload_id, options), self._last
        if last is not None and last[0] == key:
            return last[1]
        try:
            trace = load_trace(upload.path, options)
        except TraceFormatError as exc:
            raise TraceFormatError(upload.name, exc.line, exc.column, exc.message) from None
        self._last = (key, trace)
        return trace

    def get(self, upload_id: str) -> Upload:
        """The upload `upload_id` (from this controller, an earlier start, or another sharing the
        folder); its use restarts its time to live."""
        folder = self.folder / upload_id
        try:
            manifest = json.loads((folder / MANIFEST).read_text()) if _ID.fullmatch(upload_id) else None
        except (OSError, ValueError):
            manifest = None
        if manifest is None:  # not an id, never uploaded, refused, or expired and deleted
            raise UnknownName("upload", upload_id)
        (folder / MANIFEST).touch()
        name = manifest["name"]
        return Upload(upload_id, name, manifest["format"], folder / name, manifest["size_bytes"])

    def clean(self) -> list[str]:
        """Delete uploads unused for `ttl_s`, and leftovers of uploads cut short; returns their ids."""
        cutoff, gone = time.time() - self.ttl_s, []
        with self._lock:
            for folder in self.folder.iterdir():
                if _ID.fullmatch(folder.name) and _last_use(folder) < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
                    gone.append(folder.name)
        return gone


def _last_use(folder: Path) -> float:
    try:
        return (folder / MANIFEST).stat().st_mtime
    except OSError:  # no manifest: an upload in progress (recent folder) or one that died writing
        try:
            return folder.stat().st_mtime
        except OSError:
            return float("inf")


def _safe_name(name: str) -> str:
    """A file name without folders, so an upload cannot write outside its own folder; one the file system
    would refuse (a NUL byte, longer than a file name may be) is refused here, naming the rule."""
    base = Path(name or "trace.csv").name
    if len(base.encode()) > MAX_NAME_BYTES:
        raise InvalidSpec("name", f"a trace file name is at most {MAX_NAME_BYTES} bytes, got {len(base.encode()):,}")
    if any(ord(c) < 32 or ord(c) == 127 for c in base):
        raise InvalidSpec("name", "a trace file name may not hold control characters (NUL, newline, ...)")
    return base if base not in ("", ".", "..", MANIFEST) else "trace.csv"
