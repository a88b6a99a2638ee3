"""compose/build-image.sh checks its prerequisites before any work, one line each, with stub commands
on a PATH of their own (the machine's Docker is never touched)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "compose" / "build-image.sh"
BASH = shutil.which("bash")

DOCKER = """#!{bash}
case "$1" in
  info) exit {info} ;;
  image) exit {image} ;;
  compose) exit {v2} ;;
  *) echo "docker $*" >> "{log}"; exit 0 ;;
esac
"""


def _stubs(tmp: Path, *, docker: bool = True, engine: bool = True, base: bool = False, v1: bool = True,
           v2: bool = False, debootstrap: bool = True, mirror: bool = True) -> dict[str, str]:
    bin_ = tmp / "bin"
    bin_.mkdir()
    log = tmp / "ran.log"
    if docker:
        (bin_ / "docker").write_text(DOCKER.format(bash=BASH, info=int(not engine), image=int(not base),
                                                   v2=int(not v2), log=log))
    for name, present in (("docker-compose", v1), ("debootstrap", debootstrap)):
        if present:
            (bin_ / name).write_text(f'#!{BASH}\necho "{name} $*" >> "{log}"\n')
    for path in bin_.iterdir():
        path.chmod(0o755)
    (bin_ / "python3").write_text(f'#!{BASH}\nexec "{sys.executable}" "$@"\n')  # the test's python, with pip
    (bin_ / "python3").chmod(0o755)
    (bin_ / "dirname").symlink_to(shutil.which("dirname"))
    site = tmp / "mirror"
    (site / "dists" / "bookworm").mkdir(parents=True)
    (site / "dists" / "bookworm" / "Release").write_text("Origin: Debian\n")
    return {"PATH": str(bin_), "HOME": str(tmp), "TWIN_BUILD_CACHE": str(tmp / "cache"),
            "TWIN_DEBIAN_MIRROR": (site if mirror else tmp / "no-mirror").as_uri()}


def _run(tmp: Path, *args: str, **stubs: bool) -> tuple[int, list[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWIN_", "DOCKER_"))}
    env.update(_stubs(tmp, **stubs))
    done = subprocess.run([BASH, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)
    log = tmp / "ran.log"
    return done.returncode, done.stderr.strip().splitlines(), log.read_text() if log.exists() else ""


pytestmark = pytest.mark.skipif(BASH is None or shutil.which("dirname") is None, reason="needs bash and dirname")


def test_all_present_passes_the_check_and_runs_nothing(tmp_path: Path) -> None:
    code, err, ran = _run(tmp_path, "--check")
    assert (code, err, ran) == (0, [], "")


@pytest.mark.parametrize("stub, words", [
    ({"docker": False}, "docker (the Docker CLI and engine): apt-get install docker.io"),
    ({"engine": False}, "a running Docker engine"),
    ({"v1": False}, "docker-compose (v1) or the docker compose plugin (v2)"),
    ({"debootstrap": False}, "debootstrap, to make the Debian base image: apt-get install debootstrap"),
    ({"mirror": False}, "a reachable Debian package mirror"),
])
def test_each_missing_prerequisite_is_one_line_before_any_build(tmp_path: Path, stub: dict, words: str) -> None:
    code, err, ran = _run(tmp_path, **stub)  # a real build, not --check: it must stop before debootstrap
    assert code == 1
    missing = [line for line in err if line.startswith("missing: ")]
    assert len(missing) == 1 and words in missing[0], err
    assert err[-1].endswith("nothing was built") and len(err) == 2
    assert "debootstrap" not in ran and "docker build" not in ran


def test_everything_missing_names_each_once(tmp_path: Path) -> None:
    code, err, _ = _run(tmp_path, "--check", docker=False, v1=False, debootstrap=False, mirror=False)
    assert code == 1 and len(err) == 5  # docker, compose, debootstrap, mirror, and the closing line
    for words in ("docker.io", "docker-compose", "debootstrap", "mirror"):
        assert any(words in line for line in err[:-1]), err


def test_compose_v2_alone_is_enough(tmp_path: Path) -> None:
    assert _run(tmp_path, "--check", v1=False, v2=True)[:2] == (0, [])


def test_a_built_base_image_needs_no_debootstrap_or_mirror(tmp_path: Path) -> None:
    assert _run(tmp_path, "--check", base=True, debootstrap=False, mirror=False)[:2] == (0, [])
