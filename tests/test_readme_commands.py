"""The README's commands work verbatim: each `twin ...` line of its command blocks runs, in order, in
one fresh folder (a user's working directory beside a clone: the `examples/` it names are there).

Not run: synopses (placeholders such as TRACE or [--json]), Docker/compose/kubectl, `twin up` and
`--controller` (services), `python` lines (tests and benchmarks) and `pip install` (done: the test
runs the installed `twin`; `pip install . && twin ...` runs its `twin ...`). Commands naming the
reader's own files or a run id from another session must be refused as documented: exit 1, one
line naming what is missing, no traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = re.compile(r"\b(docker|docker-compose|kubectl)\b|^twin up\b|--controller\b")
# A command naming something only the reader has: refused with exit 1 and this word in its one line.
READERS_OWN = {"3f2a": "3f2a", "ragpulse/0_trace.jsonl": "ragpulse/0_trace.jsonl",
               "mooncake.jsonl": "mooncake.jsonl", "path/to/config.json": "path/to/config.json"}


def readme_commands(text: str) -> list[str]:
    """Indented command lines (with `\\` continuations joined) that start with twin, pip install or python."""
    commands, current = [], None
    for line in text.splitlines():
        if current is not None:
            current += " " + line.strip().rstrip("\\").strip()
            if not line.rstrip().endswith("\\"):
                commands.append(current)
                current = None
        elif re.match(r"^ {4}(twin|pip install|python)\b", line):
            command = line.strip()
            if command.endswith("\\"):
                current = command[:-1].strip()
            else:
                commands.append(command)
    return commands


def _is_synopsis(command: str) -> bool:
    words = command.split(" #", 1)[0].split()
    return any(re.fullmatch(r"[A-Z][A-Z.]+|\[.*|.*\]|\||\.\.\.", w) for w in words)


def runnable(command: str) -> str | None:
    """The command to run verbatim, or None for one this test does not run (see the module docstring)."""
    if command.startswith("pip install ") and " && twin " in command:
        command = command.split(" && ", 1)[1]
    if not command.startswith("twin ") or SERVICES.search(command) or _is_synopsis(command):
        return None
    return command


COMMANDS = readme_commands((ROOT / "README.md").read_text())


def test_the_extraction_finds_the_walkthroughs() -> None:
    runs = [c for c in map(runnable, COMMANDS) if c]
    assert "twin replay azure-conv-2023 --server lpu-8x-4nm --model llama2-7b" in runs  # the main command
    assert any(c.startswith("twin catalog new chip") for c in runs)
    assert any(c.startswith("twin sweep") and "--set chip.mac_trees" in c for c in runs)  # a continued line
    assert sum(1 for c in runs if any(k in c for k in READERS_OWN)) == 6


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", work / "examples")
    return work


@pytest.mark.parametrize("command", [c for c in map(runnable, COMMANDS) if c])
def test_readme_command_runs_verbatim(command: str, folder: Path) -> None:
    env = {**os.environ, "TWIN_DATABASE_URL": f"sqlite:///{folder / 'twin.db'}",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("TWIN_CATALOG_PATH", None)
    done = subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-2000:]
    own = [word for key, word in READERS_OWN.items() if key in command]
    if own:  # documented: 1 refused, one line naming the missing file or run
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and own[0] in lines[0], done.stderr
    else:
        assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
