#!/usr/bin/env bash
# The Dagster UI on the main job's instance and data root: the defaults of
# `bash scripts/sample.sh` (.dagster_home and data/ in the project folder), unless
# DAGSTER_HOME, VIDEO_ASSETS_DATA_ROOT or VIDEO_ASSETS_LANDING_DIR say otherwise.
# Arguments go to `dagster dev` (default: -h 127.0.0.1 -p 3000).
set -euo pipefail
cd "$(dirname "$0")/.."
# Python keeps each module's bytecode (some machines set PYTHONDONTWRITEBYTECODE, and then
# every process compiles torch, transformers and Dagster from source again: about 10 s each).
unset PYTHONDONTWRITEBYTECODE
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
export VIDEO_ASSETS_DATA_ROOT="${VIDEO_ASSETS_DATA_ROOT:-$PWD/data}"
export VIDEO_ASSETS_LANDING_DIR="${VIDEO_ASSETS_LANDING_DIR:-$VIDEO_ASSETS_DATA_ROOT/landing}"
mkdir -p "$DAGSTER_HOME"
[ -f "$DAGSTER_HOME/dagster.yaml" ] || cp deploy/local/dagster.yaml "$DAGSTER_HOME/dagster.yaml"
if [ $# -eq 0 ]; then set -- -h 127.0.0.1 -p 3000; fi
exec uv run --frozen dagster dev -w workspace.yaml "$@"
