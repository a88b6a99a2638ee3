"""twin_api.v1: generated from protos/twin_api/v1/*.proto by protos/generate.sh; do not edit."""
