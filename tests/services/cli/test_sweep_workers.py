"""A sweep worker that dies fails its point with the reason and never hangs the sweep: a real `twin sweep`
process, a real SIGKILL of one of its workers, the other points stored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.store import open_store

TWIN = str(Path(sys.executable).parent / "twin")  # the installed command (compiled or not), as a user runs it


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_a_killed_worker_fails_its_point_and_the_sweep_finishes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sweep.db'}"
    cmd = [TWIN, "--db", url, "sweep", "azure-conv-2023", "--limit", "3000", "--model", "llama2-7b",
           "--jobs", "1", "--set", "max_batch=16,32,64"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    killed = None
    try:
        deadline = time.monotonic() + 60
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            workers = children(proc.pid)
            if workers:
                killed = workers[0]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.01)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert killed is not None, "no worker process was seen"
    assert proc.returncode == 1, err  # a sweep with a failed point ends failed
    assert "Traceback" not in err
    with open_store(url) as store:
        (sweep,) = [r for r in store.list_runs(limit=10) if r.kind == "sweep"]
        rows = store.get_run(sweep.id).summary["points"]
    assert sweep.status == "failed"
    assert sorted(r["status"] for r in rows) == ["complete", "complete", "failed"]
    (dead,) = [r for r in rows if r["status"] == "failed"]
    assert dead["values"] == {"max_batch": 16}  # --jobs 1: the first point's worker was the one killed
    assert dead["error"] == "the worker process died (killed by SIGKILL)"
    assert "killed by SIGKILL" in " ".join(err.split())  # said as it happened, not only stored
