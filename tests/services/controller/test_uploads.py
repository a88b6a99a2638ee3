"""Uploads live in one configured folder: they survive a controller restart, are shared by
controllers on that folder, and are deleted once unused for their time to live."""

from __future__ import annotations

import os
import time

import pytest

from services.controller.uploads import UploadStore
from twin.errors import TraceFormatError, UnknownName

CSV = b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:50.99,396,109\n"


def chunks(data: bytes, name: str = "mine.csv"):
    yield name, "", data[:30]
    yield "", "", data[30:]


def test_an_upload_survives_a_restart_and_is_shared(tmp_path) -> None:
    upload, trace = UploadStore(tmp_path).receive(chunks(CSV))
    assert len(trace.requests) == 2
    restarted = UploadStore(tmp_path)  # a new controller process on the same folder
    again = restarted.get(upload.upload_id)
    assert (again.name, again.size_bytes) == ("mine.csv", len(CSV))
    assert len(restarted.load(again).requests) == 2


def test_unused_uploads_are_deleted_after_their_time_to_live(tmp_path) -> None:
    store = UploadStore(tmp_path, ttl_s=3600)
    kept, _ = store.receive(chunks(CSV))
    old, _ = store.receive(chunks(CSV))
    hour_ago = time.time() - 3601
    os.utime(tmp_path / old.upload_id / "upload.json", (hour_ago, hour_ago))
    assert store.clean() == [old.upload_id]
    assert not (tmp_path / old.upload_id).exists()
    with pytest.raises(UnknownName, match="unknown upload"):
        store.get(old.upload_id)
    assert store.get(kept.upload_id).name == "mine.csv"


def test_refused_uploads_and_odd_ids_leave_nothing(tmp_path) -> None:
    store = UploadStore(tmp_path)
    with pytest.raises(TraceFormatError, match="mine.csv:1"):
        store.receive(chunks(b"\x00" * 100))
    assert list(tmp_path.iterdir()) == []
    for odd in ("../../etc", "f" * 31, "x" * 1_000_000, ""):
        with pytest.raises(UnknownName) as caught:
            store.get(odd)
        assert len(str(caught.value)) < 200


def test_a_replay_right_after_the_upload_reuses_the_trace_read_on_arrival(tmp_path) -> None:
    from services.controller.inputs import trace_options
    from twin.traces import TraceOptions
    from twin_api.v1 import controller_pb2
    store = UploadStore(tmp_path)
    first, _ = store.receive(chunks(CSV))
    upload, trace = store.receive(chunks(CSV))
    plain = trace_options(controller_pb2.TraceOptions())  # what a replay without options asks for
    assert store.load(store.get(upload.upload_id), plain) is trace  # not parsed a second time
    assert len(store.load(store.get(upload.upload_id), TraceOptions(limit=1)).requests) == 1  # other options
    assert store.load(store.get(first.upload_id)) is not trace  # another upload: its own file
    assert store.load(store.get(first.upload_id)).requests == trace.requests
