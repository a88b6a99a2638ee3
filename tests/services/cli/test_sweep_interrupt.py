"""Ctrl-C on a local sweep keeps the points that finished: a real process, a real SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from services.store import open_store


def test_sigint_keeps_finished_points(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sweep.db'}"
    cmd = [sys.executable, "-P", "-m", "services.cli", "--db", url, "sweep", "azure-conv-2023", "--limit", "150",
           "--model", "llama2-7b", "--jobs", "1", "--set", "max_batch=" + ",".join(str(8 + i) for i in range(40))]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _finished_children(url) < 2:
            time.sleep(0.2)
        assert _finished_children(url) >= 2, proc.stderr.read() if proc.poll() is not None else "no point finished"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    with open_store(url) as store:
        runs = store.list_runs(limit=100)
        (sweep,) = [r for r in runs if r.kind == "sweep"]
        children = [r for r in runs if r.kind == "replay"]
        assert sweep.status == "interrupted"
        rows = store.get_run(sweep.id).summary["points"]
    assert len(rows) == len(children) < 40  # every stored point is in the sweep, and it stopped early
    assert {r["run_id"] for r in rows} == {c.id for c in children}
    assert all(c.status == "complete" for c in children)


def _finished_children(url: str) -> int:
    try:
        with open_store(url) as store:
            return sum(r.kind == "replay" and r.status == "complete" for r in store.list_runs(limit=100))
    except Exception:  # the file is not there yet
        return 0
