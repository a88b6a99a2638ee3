#!/usr/bin/env bash
# Regenerates the committed gRPC code in twin_api/ from protos/twin_api/v1/*.proto.
# Usage: protos/generate.sh [OUT_DIR]   (default: the repository root)
# The generator is pinned (GRPC_TOOLS): its release is written into the code, and the runtime floors
# of pyproject.toml (grpcio, protobuf) must admit it. To move to a newer release, change the pin,
# raise those floors to match and run this script; tests/services/test_protos.py checks the three agree.
set -euo pipefail
GRPC_TOOLS="1.85.1"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root}"
have=$(python -c 'from importlib.metadata import version; print(version("grpcio-tools"))' 2>/dev/null || true)
if [ "$have" != "$GRPC_TOOLS" ]; then
  echo "protos/generate.sh: needs grpcio-tools==$GRPC_TOOLS (found: ${have:-none}); pip install grpcio-tools==$GRPC_TOOLS" >&2
  exit 1
fi
mkdir -p "$out/twin_api/v1"
cd "$root"
python -m grpc_tools.protoc -I protos --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  protos/twin_api/v1/*.proto
printf '"""Generated gRPC code of the twin'"'"'s services (protos/generate.sh); do not edit."""\n' \
  > "$out/twin_api/__init__.py"
printf '"""twin_api.v1: generated from protos/twin_api/v1/*.proto by protos/generate.sh; do not edit."""\n' \
  > "$out/twin_api/v1/__init__.py"
