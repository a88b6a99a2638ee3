#!/usr/bin/env bash
# The compose test, for .ci/run: installs Debian's docker.io, docker-compose and debootstrap
# when it can, starts dockerd in the background (and stops it at the end), builds the images
# offline (compose/build-image.sh), and runs tests/compose.
# Exit 0 with "SKIPPED: <reason>" when no Docker engine can run here; non-zero when the test fails.
set -uo pipefail
cd "$(dirname "$0")/.."

skip() { echo "SKIPPED: compose test: $*"; exit 0; }
need=()
for tool in dockerd docker-compose debootstrap; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || skip "missing ${need[*]} and cannot apt-get install them"
  echo "installing docker.io docker-compose debootstrap ..."
  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io docker-compose debootstrap) \
    >/tmp/twin-compose-apt.log 2>&1 || skip "apt-get install docker.io docker-compose debootstrap failed"
fi

dockerd_pid=""
stop_dockerd() {
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
  fi
}
trap stop_dockerd EXIT
if ! docker info >/dev/null 2>&1; then
  dockerd --storage-driver=overlay2 >/tmp/twin-dockerd.log 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -5 /tmp/twin-dockerd.log; skip "dockerd does not start on this machine"; }
fi

if ! compose/build-image.sh; then
  echo "FAILED: compose test: the image build failed"
  exit 1
fi
# PYTEST: the compiled install's pytest when .ci/run gives one (the client side then runs what users install)
TWIN_COMPOSE_TEST=1 ${PYTEST:-python -m pytest} tests/compose -q -p no:cacheprovider -rs
