#!/usr/bin/env bash
# Builds the twin's images on a machine that reaches no image registry (DESIGN §8):
#   1. a Debian bookworm root made by debootstrap, imported as the base image (once; cached);
#   2. the project and its dependencies as wheels, built on the host with `pip wheel`;
#   3. compose/Dockerfile and compose/Dockerfile.postgres built from that base.
# Prerequisites are checked first, one line for each missing (`build-image.sh --check` only checks):
# a running Docker engine, docker-compose (v1, Debian's) or `docker compose` (v2), python3 with pip,
# and, unless the base image or its cached root exists, debootstrap and a reachable Debian mirror.
# Environment: TWIN_BASE_IMAGE, TWIN_IMAGE, TWIN_DB_IMAGE (tags), TWIN_BUILD_CACHE (folder),
# TWIN_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
base="${TWIN_BASE_IMAGE:-lpu-twin-base:bookworm}"
image="${TWIN_IMAGE:-lpu-twin:latest}"
db_image="${TWIN_DB_IMAGE:-lpu-twin-postgres:latest}"
cache="${TWIN_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lpu-twin}"
mirror="${TWIN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# Each prints one line naming what is missing and how to get it; all are run, then we stop.
missing=0
lack() { echo "missing: $*" >&2; missing=$((missing + 1)); }
need_base=1
check_docker() {
  if ! command -v docker >/dev/null; then
    lack "docker (the Docker CLI and engine): apt-get install docker.io"
    return
  fi
  if ! docker info >/dev/null 2>&1; then
    lack "a running Docker engine ('docker info' fails): start it (systemctl start docker, or dockerd)," \
         "and run as root or as a member of the docker group (usermod -aG docker \$USER)"
    return
  fi
  if docker image inspect "$base" >/dev/null 2>&1; then need_base=0; fi
}
check_compose() {
  command -v docker-compose >/dev/null && return
  command -v docker >/dev/null && docker compose version >/dev/null 2>&1 && return
  lack "docker-compose (v1) or the docker compose plugin (v2), to run compose/compose.yaml:" \
       "apt-get install docker-compose"
}
check_python() {
  python3 -m pip --version >/dev/null 2>&1 || lack "python3 with pip, to build the wheels: apt-get install python3-pip"
}
check_debian() {  # only for a base image not yet built or cached
  [ "$need_base" = 1 ] && [ ! -s "$cache/rootfs.tar" ] || return 0
  command -v debootstrap >/dev/null || lack "debootstrap, to make the Debian base image: apt-get install debootstrap"
  python3 - "$mirror/dists/bookworm/Release" >/dev/null 2>&1 <<'PY' || lack "a reachable Debian package mirror" \
"($mirror/dists/bookworm/Release cannot be read): check the network or proxy, or set TWIN_DEBIAN_MIRROR"
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=15).read(1)
PY
}
check_docker; check_compose; check_python; check_debian
if [ "$missing" -gt 0 ]; then
  echo "build-image.sh: $missing prerequisite(s) missing (above); nothing was built" >&2
  exit 1
fi
if [ "${1:-}" = "--check" ]; then
  echo "prerequisites: ok"
  exit 0
fi

if [ "$need_base" = 1 ]; then
  if [ ! -s "$cache/rootfs.tar" ]; then
    echo "debootstrap: a Debian bookworm root with python3 (about 2 minutes) ..."
    rm -rf "$cache/rootfs" && mkdir -p "$cache"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
      bookworm "$cache/rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
      || { tail -20 "$cache/debootstrap.log"; exit 1; }
    tar -C "$cache/rootfs" -cf "$cache/rootfs.tar.part" . && mv "$cache/rootfs.tar.part" "$cache/rootfs.tar"
    rm -rf "$cache/rootfs"
  fi
  docker import "$cache/rootfs.tar" "$base"
fi

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
echo "pip wheel: the project and its dependencies ..."
python3 -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$context/wheelhouse" "$root"
cp "$root/compose/Dockerfile" "$root/compose/Dockerfile.postgres" "$root/compose/postgres-entrypoint.sh" "$context/"
docker build --quiet --build-arg BASE_IMAGE="$base" -t "$image" -f "$context/Dockerfile" "$context"
docker build --quiet --build-arg BASE_IMAGE="$base" -t "$db_image" -f "$context/Dockerfile.postgres" "$context"
echo "built $image and $db_image on $base"
