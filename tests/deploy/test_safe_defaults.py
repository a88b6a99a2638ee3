"""Safe deployment defaults outside Kubernetes: compose/compose.yaml read as plain YAML (and through
`docker-compose config` when installed), deploy/make-secrets.sh, and no secret in any committed file."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose" / "compose.yaml"
MAKE_SECRETS = ROOT / "deploy" / "make-secrets.sh"
TWIN_SERVICES = ("cluster", "controller", "metrics")
# Not a deployment's secret: the tests' dummy tokens and passwords (tests/), and the throwaway role
# .ci/run makes on CI's own local PostgreSQL for the store tests (TWIN_TEST_PG_URL).
TEST_ONLY = ("tests/", ".ci/run")


def services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]  # YAML merge keys (<<) resolved


def make_secrets(path: Path, host: str = "db") -> dict[str, str]:
    subprocess.run([str(MAKE_SECRETS), str(path), host], check=True, capture_output=True)
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_every_compose_service_is_non_root_read_only_without_capabilities() -> None:
    for name, service in services().items():
        uid = service["user"].split(":")[0]
        assert uid.isdigit() and int(uid) > 0, name  # numeric: nothing to look up, visibly not root
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert "cap_add" not in service and not service.get("privileged"), name
        assert service["security_opt"] == ["no-new-privileges:true"], name
        assert "/tmp" in service["tmpfs"], name
    db = services()["db"]
    # the socket folder: a tmpfs the server (uid 999) can write its lock file in (a bare tmpfs is root's)
    assert db["user"] == "999:999" and "/var/run/postgresql:uid=999,gid=999,mode=0775" in db["tmpfs"]
    assert db["volumes"] == ["pgdata:/var/lib/postgresql/data"]  # the data folder: a volume, not the root


def test_every_compose_service_has_cpu_and_memory_limits_and_reservations() -> None:
    for name, service in services().items():
        assert {"mem_limit", "mem_reservation", "cpus", "cpu_shares"} <= service.keys(), name
        assert service["cpus"] > 0 and service["cpu_shares"] > 0, name
    assert {n: s["mem_limit"] for n, s in services().items()} == {"db": "1g", "cluster": "4g", "controller": "2g",
                                                                   "metrics": "1g", "search": "2g"}


def test_compose_requires_the_generated_secrets_and_commits_none() -> None:
    for name in TWIN_SERVICES:
        env = services()[name]["environment"]
        assert env["TWIN_AUTH_TOKEN"].startswith("${TWIN_AUTH_TOKEN?"), name  # unset: refused; no empty default
        assert env["TWIN_AUTH"] == "${TWIN_AUTH:-on}", name
        if name != "cluster":
            assert env["TWIN_DATABASE_URL"].startswith("${TWIN_DATABASE_URL:?"), name
    assert "TWIN_DATABASE_URL" not in services()["cluster"]["environment"]  # least privilege
    assert services()["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def _compose_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`docker-compose config` (no engine needed) of a copy of compose.yaml beside no .env of the reader's."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed")
    shutil.copy(COMPOSE, tmp_path / "compose.yaml")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TWIN_", "POSTGRES_"))}
    return subprocess.run([binary, "-f", str(tmp_path / "compose.yaml"), "config"], env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_docker_compose_refuses_without_secrets_in_one_line(tmp_path) -> None:
    done = _compose_config(tmp_path, {})
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert "run deploy/make-secrets.sh first" in line


def test_docker_compose_renders_the_generated_secrets_from_the_env_file(tmp_path) -> None:
    pairs = make_secrets(tmp_path / ".env")  # compose reads the .env beside the file
    done = _compose_config(tmp_path, {})
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)["services"]
    for name in TWIN_SERVICES:
        env = rendered[name]["environment"]
        assert (env["TWIN_AUTH"], env["TWIN_AUTH_TOKEN"]) == ("on", pairs["TWIN_AUTH_TOKEN"])
        assert env.get("TWIN_DATABASE_URL", pairs["TWIN_DATABASE_URL"]) == pairs["TWIN_DATABASE_URL"]
    assert rendered["db"]["environment"]["POSTGRES_PASSWORD"] == pairs["POSTGRES_PASSWORD"]


def test_make_secrets_writes_random_private_secrets_and_keeps_an_existing_file(tmp_path) -> None:
    first, second = make_secrets(tmp_path / "a.env", "postgres"), make_secrets(tmp_path / "b.env", "postgres")
    assert set(first) == {"TWIN_AUTH_TOKEN", "POSTGRES_PASSWORD", "TWIN_DATABASE_URL"}
    for pairs in (first, second):
        assert re.fullmatch(r"[0-9a-f]{48}", pairs["TWIN_AUTH_TOKEN"])  # 24 random bytes
        assert re.fullmatch(r"[0-9a-f]{48}", pairs["POSTGRES_PASSWORD"])
        assert pairs["TWIN_DATABASE_URL"] == f"postgresql+psycopg://twin:{pairs['POSTGRES_PASSWORD']}@postgres:5432/twin"
    assert first["TWIN_AUTH_TOKEN"] != second["TWIN_AUTH_TOKEN"] != second["POSTGRES_PASSWORD"]
    assert stat.S_IMODE((tmp_path / "a.env").stat().st_mode) == 0o600
    assert make_secrets(tmp_path / "a.env", "db") == first  # kept: the database holds that password


def committed_files() -> list[str]:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout: which files are committed is unknown")
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, text=True, check=True)
    return [name for name in out.stdout.split("\0") if name]


# A literal (not `$VAR`, `${...}` or a secretKeyRef) after a password or token key, or in a database URL.
LITERAL_SECRET = re.compile(r"(?<![\w{$])(POSTGRES_PASSWORD|TWIN_AUTH_TOKEN)\s*[:=]\s*[\"']?\w"
                            r"|postgres(?:ql)?(?:\+\w+)?://[^:/@\s]+:(?![$<{])[^@\s]+@")


def test_no_committed_file_holds_a_password_or_token() -> None:
    found = []
    for name in committed_files():
        path = ROOT / name
        if name.startswith(TEST_ONLY) or not path.is_file() or path.stat().st_size > 1_000_000:
            continue
        text = path.read_text(errors="replace")
        found += [f"{name}: {m.group(0)}" for m in LITERAL_SECRET.finditer(text)]
        if re.search(r"^kind:\s*Secret\s*$", text, re.M):
            found.append(f"{name}: a Secret")
    assert found == []


def test_the_secret_finder_finds_the_old_defaults() -> None:
    """What the committed files held before: each is a hit."""
    for old in ("POSTGRES_PASSWORD: twin", "TWIN_DATABASE_URL: postgresql+psycopg://twin:twin@db:5432/twin",
                'TWIN_AUTH_TOKEN: "s3cret"', "TWIN_AUTH_TOKEN=abc"):
        assert LITERAL_SECRET.search(old), old
    for fine in ("POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?run it}", "TWIN_AUTH_TOKEN=$(sed -n p f)",
                 "key: POSTGRES_PASSWORD", "- name: TWIN_AUTH_TOKEN", "postgresql+psycopg://twin:$pw@db/twin"):
        assert not LITERAL_SECRET.search(fine), fine


def test_the_generated_files_are_ignored_by_git() -> None:
    committed_files()  # skips outside a checkout
    for name in ("compose/.env", "deploy/k8s/secrets.env"):
        done = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", name])
        assert done.returncode == 0, f"{name} is not ignored"
