"""Ctrl-C / SIGTERM at random points of a CLI replay: the run ends `interrupted`, and its stored
summary counts exactly the records stored (real signals delivered to this process)."""

from __future__ import annotations

import os
import random
import signal
import threading

import pytest

from services.runner import stored_replay
from services.signals import StopSignals
from services.store import open_store
from twin.replay import RunSpec
from twin.traces import TraceOptions, load_trace

SPEC = RunSpec("lpu-8x-4nm", "opt-1.3b", tp=1)


@pytest.fixture(scope="module")
def trace():
    return load_trace("azure-conv-2023", TraceOptions(limit=400))


def replay_with_signals(tmp_path, trace, seed: int, signals_to_send: list[int]):
    """Replay `trace`; from a random checkpoint on, send the signals at random moments. The checkpoint
    after that waits until they are sent, so a replay faster than the delays still gets them."""
    rng = random.Random(seed)
    start_at, calls, senders = rng.randint(1, 30), [0], []
    lock, done, sent = threading.Lock(), threading.Event(), threading.Event()

    def send() -> None:
        for signum in signals_to_send:
            threading.Event().wait(rng.random() * 0.05)
            with lock:  # never once the replay is over: the signal would hit the test runner
                if not done.is_set():
                    os.kill(os.getpid(), signum)
        sent.set()

    def progress(done_requests, total, now) -> None:
        calls[0] += 1
        if calls[0] > start_at:
            sent.wait(timeout=10)
        if calls[0] == start_at:
            senders.append(threading.Thread(target=send, daemon=True))
            senders[0].start()

    with open_store(f"sqlite:///{tmp_path / 'i.db'}") as store, StopSignals() as signals:
        result = None
        try:
            try:
                run_id, result = stored_replay(store, SPEC, trace, progress=progress, signals=signals)
            finally:
                with lock:
                    done.set()
        except KeyboardInterrupt:  # the second signal stopped it at once
            pass
        for sender in senders:
            sender.join()
        run_id = store.list_runs()[0].id
        row = store.get_run(run_id)
        kept = store.request_records(run_id, limit=100_000)
    return signals, result, row, kept


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_one_signal_at_a_random_point(tmp_path, trace, seed, signum) -> None:
    signals, result, row, kept = replay_with_signals(tmp_path, trace, seed, [signum])
    assert result.status == row.status == "interrupted" and signals.exit_code == 128 + signum
    assert row.error == {signal.SIGINT: "interrupted by the user (Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)"}[signum]
    assert 0 < len(kept) == row.requests_recorded == row.summary["requests"]["total"] < len(trace.requests)
    assert row.summary["requests"]["done"] == sum(r.state == "done" for r in kept)
    assert row.summary["status"] == "interrupted"


@pytest.mark.parametrize("seed", range(4))
def test_a_second_signal_stops_at_once_and_never_leaves_a_summary_that_disagrees(tmp_path, trace, seed) -> None:
    _, _, row, kept = replay_with_signals(tmp_path, trace, seed, [signal.SIGINT, signal.SIGINT])
    assert row.status == "interrupted"
    assert len(kept) == row.requests_recorded
    if row.summary is not None:  # the run got to its checkpoint before the second signal
        assert row.summary["requests"]["total"] == len(kept)
