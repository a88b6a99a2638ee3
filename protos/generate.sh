#!/usr/bin/env bash
# Regenerates the committed gRPC code in twin_api/ from protos/twin_api/v1/*.proto.
# Usage: protos/generate.sh [OUT_DIR]   (default: the repository root)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root}"
mkdir -p "$out/twin_api/v1"
cd "$root"
python -m grpc_tools.protoc -I protos --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  protos/twin_api/v1/*.proto
printf '"""Generated gRPC code of the twin'"'"'s services (protos/generate.sh); do not edit."""\n' \
  > "$out/twin_api/__init__.py"
printf '"""twin_api.v1: generated from protos/twin_api/v1/*.proto by protos/generate.sh; do not edit."""\n' \
  > "$out/twin_api/v1/__init__.py"
