#!/usr/bin/env bash
# The main job: set up if needed, then materialize every asset for VIDEO (or a generated sample).
set -euo pipefail
cd "$(dirname "$0")/.."
# Python keeps each module's bytecode (some machines set PYTHONDONTWRITEBYTECODE, and then
# every process compiles torch, transformers and Dagster from source again: about 10 s each).
unset PYTHONDONTWRITEBYTECODE
bash scripts/setup.sh
exec uv run --frozen python -m dagster_project.main "$@"
