#!/usr/bin/env bash
# The main job: set up if needed, then materialize every asset for VIDEO (or a generated sample).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec uv run --frozen python -m dagster_project.main "$@"
