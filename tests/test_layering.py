"""The simulation core never imports an outer layer; hardware never imports serving or quantization."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTER = {"grpc", "sqlalchemy", "alembic", "click", "rich", "services", "twin_api"}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_core_imports_no_outer_layer():
    for path in (ROOT / "twin").rglob("*.py"):
        bad = {m for m in imports(path) if m.split(".")[0] in OUTER}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_hw_imports_neither_serving_nor_quant():
    for path in (ROOT / "twin" / "hw").rglob("*.py"):
        bad = {m for m in imports(path) if m.startswith(("twin.serving", "twin.quant"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_store_never_imports_grpc():
    for path in (ROOT / "services" / "store").rglob("*.py"):
        bad = {m for m in imports(path) if m.split(".")[0] in {"grpc", "twin_api"}}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_replaying_a_trace_file_never_loads_numpy():
    """numpy costs about 0.13 s of start-up; only synthetic draws, statistics and the quantizers need it.
    A fresh interpreter reads a built-in trace, builds the twin, replays and summarises without it."""
    script = (
        "import sys\n"
        "from twin.replay import RunSpec, replay\n"
        "from twin.traces import TraceOptions, load_trace\n"
        "trace = load_trace('azure-conv-2023', TraceOptions(limit=200))\n"
        "result = replay(RunSpec('lpu-8x-4nm', 'llama2-7b', tp=8).build(), trace.requests)\n"
        "assert result.summary['requests']['total'] == 200, result.summary['requests']\n"
        "print('numpy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
