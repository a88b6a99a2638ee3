"""Controller test fixtures."""

from __future__ import annotations

import threading

import pytest

from services.controller.remote import RemoteReplay


@pytest.fixture
def held(monkeypatch) -> threading.Event:
    """Runs wait, once they report requests finished and before they ask for more, until they
    are asked to stop or the event is set: a run is surely caught in the middle, however fast."""
    release, next_slices = threading.Event(), RemoteReplay._next_slices

    def held_next_slices(self, session, progress, *args):
        while progress.finished and not (self.stop_reason() or release.wait(0.01)):
            pass
        return next_slices(self, session, progress, *args)
    monkeypatch.setattr(RemoteReplay, "_next_slices", held_next_slices)
    yield release
    release.set()
