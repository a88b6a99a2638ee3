"""Search workers share one study through the run database: two `twin search` processes on one database
(as on two machines) evaluate no trial twice; a SIGKILLed worker loses only its trial in flight; Ctrl-C
keeps every finished trial. SQLite always, PostgreSQL when TWIN_TEST_PG_URL is set (db_url)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from services.search_worker import study_storage
from services.store import open_store

TWIN = str(Path(sys.executable).parent / "twin")
ARGS = ["search", "azure-conv-2023", "--limit", "400", "--model", "llama2-7b", "--space", "max_batch=4..64",
        "--space", "chip.mac_trees=16..64", "--objective", "output_tokens_per_s:max", "--study", "shared"]


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def start(url: str, *extra: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([TWIN, "--db", url, *ARGS, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd)


def trials(url: str) -> list:
    return optuna.load_study(study_name="shared", storage=study_storage(url)).get_trials()


def wait_for_trials(url: str, count: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if sum(t.state == TrialState.COMPLETE for t in trials(url)) >= count:
                return
        except Exception:  # noqa: BLE001 - the study is not created yet
            pass
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} trials finished: {proc.stderr.read() if proc.poll() else ''}")


def mid_trial(url: str, pids: list[int]) -> tuple[int, int]:
    """(pid, trial number) of one of these worker processes while it runs a trial."""
    for _ in range(2000):
        busy = {t.user_attrs.get("worker", "").rsplit(":", 1)[-1]: t.number for t in trials(url)
                if t.state == TrialState.RUNNING}
        for pid in pids:
            if str(pid) in busy:
                return pid, busy[str(pid)]
        time.sleep(0.01)
    raise AssertionError("no worker was seen mid-trial")


def joined(url: str, proc: subprocess.Popen) -> None:
    """Wait until one of this search's worker processes has named a trial as its own."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        pids = {str(p) for p in children(proc.pid)}
        if pids & {t.user_attrs.get("worker", "").rsplit(":", 1)[-1] for t in trials(url)}:
            return
        time.sleep(0.05)
    raise AssertionError("the second search took no trial")


def child_runs(url: str) -> list[str]:
    with open_store(url) as store:
        return [r.id for r in store.list_runs(limit=500) if r.kind == "replay"]


TRIALS = 80  # enough that the second search's worker, seconds slower to start, finds trials left (one takes ~0.3 s)


def test_two_searches_on_one_database_share_the_study_and_a_killed_worker_loses_only_its_trial(db_url, tmp_path):
    first = start(db_url, "--trials", str(TRIALS), "--workers", "2", cwd=tmp_path)
    wait_for_trials(db_url, 1, first)
    second = start(db_url, "--trials", str(TRIALS), cwd=tmp_path)  # joins: the same command, --db and --study
    wait_for_trials(db_url, 3, first)
    joined(db_url, second)  # the second search's worker has taken a trial
    victim, in_flight = mid_trial(db_url, children(first.pid))
    os.kill(victim, signal.SIGKILL)
    out1, err1 = first.communicate(timeout=300)
    out2, err2 = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert "Traceback" not in err1 + err2
    done = trials(db_url)
    states = Counter(t.state for t in done)
    # TRIALS, or up to 2 more: workers that check the count at the same moment may each start one last trial
    assert TRIALS <= states[TrialState.COMPLETE] <= TRIALS + 2
    # the trial in flight is lost (failed), unless it finished in the instant before the signal landed; no other
    failed = [t.number for t in done if t.state == TrialState.FAIL]
    assert failed in ([in_flight], []), failed
    assert failed or done[in_flight].state == TrialState.COMPLETE
    assert set(states) <= {TrialState.COMPLETE, TrialState.FAIL}
    run_ids = [t.user_attrs["run_id"] for t in done if t.state == TrialState.COMPLETE]
    assert len(set(run_ids)) == len(run_ids)  # each trial stored once ...
    # ... and no trial evaluated (stored) by two workers: beside the completed trials' runs there is at most the
    # killed trial's own (its worker died storing it, or after storing it and before telling the study)
    stored = child_runs(db_url)
    assert set(run_ids) <= set(stored)
    assert len(set(stored) - set(run_ids)) <= 1
    workers = {t.user_attrs["worker"] for t in done}
    assert len(workers) >= 3  # both processes of the first search (one replaced) and the second search's
    for lost in (t for t in done if t.state == TrialState.FAIL):  # the killed worker's, named as it happened
        assert lost.user_attrs["worker"].endswith(f":{victim}")  # (it may have stored its run before it died)
        assert f"trial {lost.number} lost: its worker ended with code -9" in err1


def test_ctrl_c_keeps_every_finished_trial(sqlite_url, tmp_path) -> None:
    proc = start(sqlite_url, "--trials", "50", cwd=tmp_path)
    wait_for_trials(sqlite_url, 2, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    done = trials(sqlite_url)
    finished = [t for t in done if t.state == TrialState.COMPLETE]
    assert len(finished) >= 2 and all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in done)
    with open_store(sqlite_url) as store:
        (search,) = [r for r in store.list_runs(limit=100) if r.kind == "search"]
        run = store.get_run(search.id)
        assert run.status == "interrupted"
        assert {r["trial"] for r in run.summary["trials"] if r["state"] == "complete"} == {t.number for t in finished}
    assert sorted(child_runs(sqlite_url)) == sorted(t.user_attrs["run_id"] for t in finished)


STRANDED_THREAD = """
import signal, sys, threading, time
from services.search_worker import _Ending
signal.signal(signal.SIGTERM, _Ending.handle)
# a non-daemon thread nobody will stop: what Optuna's heartbeat thread is when the signal lands inside its start()
threading.Thread(target=time.sleep, args=(3600,)).start()
print("ready", flush=True)
time.sleep(3600)
"""


def test_a_worker_told_to_stop_ends_even_with_a_thread_left_running(tmp_path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", STRANDED_THREAD], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 143
    finally:
        proc.kill()


HELD = """
import signal, sys
from services.search_worker import _Ending
signal.signal(signal.SIGTERM, _Ending.handle)
_Ending.hold()  # as between asking the study for a trial and naming it as this worker's
print("held", flush=True)
sys.stdin.readline()
print("allowing", flush=True)
_Ending.allow()
print("still here", flush=True)
"""


def test_a_worker_told_to_stop_while_it_holds_ends_when_it_allows(tmp_path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HELD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    try:
        assert proc.stdout.readline() == "held\n"
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1)  # held: the signal waits
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 143
        assert proc.stdout.read() == "allowing\n"  # it ended in allow(), before going on
    finally:
        proc.kill()
