"""The simulation core never imports an outer layer; hardware never imports serving or quantization."""

import ast
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
