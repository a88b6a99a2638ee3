#!/usr/bin/env bash
# Builds the twin's images on a machine that reaches no image registry (DESIGN §8):
#   1. a Debian bookworm root made by debootstrap, imported as the base image (once; cached);
#   2. the project and its dependencies as wheels, built on the host with `pip wheel`;
#   3. compose/Dockerfile and compose/Dockerfile.postgres built from that base.
# Environment: TWIN_BASE_IMAGE, TWIN_IMAGE, TWIN_DB_IMAGE (tags), TWIN_BUILD_CACHE (folder).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
base="${TWIN_BASE_IMAGE:-lpu-twin-base:bookworm}"
image="${TWIN_IMAGE:-lpu-twin:latest}"
db_image="${TWIN_DB_IMAGE:-lpu-twin-postgres:latest}"
cache="${TWIN_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lpu-twin}"

if ! docker image inspect "$base" >/dev/null 2>&1; then
  if [ ! -s "$cache/rootfs.tar" ]; then
    echo "debootstrap: a Debian bookworm root with python3 (about 2 minutes) ..."
    rm -rf "$cache/rootfs" && mkdir -p "$cache"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
      bookworm "$cache/rootfs" >"$cache/debootstrap.log" 2>&1 \
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
