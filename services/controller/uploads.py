"""Uploaded traces: written to a folder as they stream in, size-limited, checked on arrival.

A malformed file is refused at upload with the error naming its line; an accepted one
is replayed by id. Nothing is kept of a refused upload.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from twin.errors import CapacityExceeded, InvalidSpec, TraceFormatError, UnknownName, quote
from twin.traces import LoadedTrace, TraceOptions, load_trace

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    upload_id: str
    name: str
    fmt: str | None
    path: Path
    size_bytes: int


class UploadStore:
    def __init__(self, folder: str | Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="twin-uploads-"))
        self.max_bytes = max_bytes
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.Lock()

    def receive(self, chunks: Iterable[tuple[str, str, bytes]]) -> tuple[Upload, LoadedTrace]:
        """Write (name, format, data) chunks to a new file, check it reads, and register it."""
        upload_id = uuid.uuid4().hex
        folder = self.folder / upload_id
        folder.mkdir(parents=True)
        try:
            upload = self._write(upload_id, folder, chunks)
            trace = self.load(upload)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._lock:
            self._uploads[upload_id] = upload
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
        try:
            return load_trace(upload.path, options)
        except TraceFormatError as exc:
            raise TraceFormatError(upload.name, exc.line, exc.column, exc.message) from None

    def get(self, upload_id: str) -> Upload:
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None:
            raise UnknownName("upload", upload_id)
        return upload


def _safe_name(name: str) -> str:
    """A file name without folders, so an upload cannot write outside its own folder."""
    base = Path(name or "trace.csv").name
    return base if base not in ("", ".", "..") else "trace.csv"
