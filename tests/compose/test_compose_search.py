"""compose.yaml's `search` profile: W replicas of one `twin search` sharing a study in the stack's PostgreSQL,
started only when the profile is asked for. Read as plain YAML (the stack itself runs in test_compose.py)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "compose" / "compose.yaml"


def _services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _defaults(text: str) -> str:
    """Compose's ${VAR:-default} interpolation with the variables unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


def test_the_search_profile_runs_one_study_against_the_stacks_database():
    from services.search_cmd import search

    services = _services()
    worker = services["search"]
    assert worker["profiles"] == ["search"]  # a plain `up` starts the stack without it
    assert all("profiles" not in s for name, s in services.items() if name != "search")
    assert worker["environment"]["TWIN_DATABASE_URL"] == services["controller"]["environment"]["TWIN_DATABASE_URL"]
    assert worker["depends_on"]["db"]["condition"] == "service_healthy"
    assert worker["restart"] == "no"  # a worker whose study is full is done, not crashed
    command = [_defaults(a) for a in worker["command"]]
    assert command[:2] == ["twin", "search"]
    params = search.make_context("search", command[2:]).params  # every argument is one the CLI takes
    assert params["study"] == "compose-search" and params["trials"] == 60
