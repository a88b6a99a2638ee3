"""Ctrl-C while `twin` starts (before a command installs its own signal handling) exits 130, the
interrupt code of services.exits, not click's "Aborted!" with 1; and with no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from services.exits import INTERRUPTED

# A real SIGINT, delivered while `twin trace stats` is loading its trace (start-up of the command).
SCRIPT = """
import os, signal, sys, time
import twin.traces
def interrupted(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)
twin.traces.load_trace = interrupted
from services.cli import main
sys.argv = ["twin", "trace", "stats", "azure-conv-2023"]
main()
"""


def test_ctrl_c_during_start_up_exits_130(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == INTERRUPTED == 130, done.stderr
    assert "Traceback" not in done.stderr
