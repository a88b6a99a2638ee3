"""The same sweep run locally and through `twin up` (controller and cluster replicas as real processes) gives
the same points with the same summaries: one trace-loading path, one spec, the same twin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from services.store import open_store
from services.up import LocalStack

TWIN = str(Path(sys.executable).parent / "twin")  # the installed command, compiled or not
# 400 requests of the conversation trace on a 4k-context model: some prompts are over-long, which the twin
# rejects on both paths (a local sweep used to clamp them at load instead)
SWEEP = ["sweep", "azure-conv-2023", "--model", "llama2-7b", "--limit", "400",
         "--set", "server=lpu-8x-4nm,dgx-h100", "--json"]
WALL_CLOCK = {"wall_s", "wall_clock_s", "sim_speed", "speedup_vs_real_time", "events_per_s"}


def sweep(tmp_path: Path, db: str, *args: str, token: str | None = None) -> tuple[dict, dict[str, dict]]:
    env = {**os.environ, "TWIN_AUTH_TOKEN": token} if token else None
    out = subprocess.run([TWIN, "--db", db, *args, *SWEEP, "--jobs", "2"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    with open_store(db) as store:
        children = {json.dumps(row["values"], sort_keys=True): store.get_run(row["run_id"]).summary
                    for row in rows["points"]}
    return rows, children


def without_wall_clock(summary):
    if isinstance(summary, dict):
        return {k: without_wall_clock(v) for k, v in summary.items() if k not in WALL_CLOCK}
    return summary


def test_a_sweep_gives_the_same_summaries_locally_and_through_twin_up(tmp_path: Path) -> None:
    local_db, remote_db = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'remote.db'}"
    local_rows, local = sweep(tmp_path, local_db)
    stack = LocalStack(port=0, clusters=2, db=remote_db)
    stack.start()
    try:
        remote_rows, remote = sweep(tmp_path, remote_db, "--controller", stack.addrs["controller"],
                                    token=stack.token)
    finally:
        stack.stop()
    assert sorted(local) == sorted(remote) == ['{"server": "dgx-h100"}', '{"server": "lpu-8x-4nm"}']
    for point in local:
        assert local[point]["requests"]["rejected"] > 0  # the over-long prompts are refused, not clamped
        assert without_wall_clock(local[point]) == without_wall_clock(remote[point]), point
    strip = lambda rows: [{k: v for k, v in r.items() if k != "run_id"} for r in rows["points"]]  # noqa: E731
    for a, b in zip(strip(local_rows), strip(remote_rows)):
        assert a == b, {k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
