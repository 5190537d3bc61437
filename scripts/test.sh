#!/usr/bin/env bash
# The test suite: set up if needed, lint and type-check, then run every test (slow ones included).
set -euo pipefail
cd "$(dirname "$0")/.."
# Python keeps each module's bytecode (some machines set PYTHONDONTWRITEBYTECODE, and then
# every process compiles torch, transformers and Dagster from source again: about 10 s each).
unset PYTHONDONTWRITEBYTECODE
bash scripts/setup.sh
uv run --frozen ruff check .
uv run --frozen ruff format --check .
uv run --frozen mypy
# Test files run in parallel processes (pytest-xdist), each file whole on one worker so its
# module fixtures (generated media, one materialized sample) are made once; the longest
# files first, in the order tests/conftest.py sorts them (LONGEST_FIRST).
uv run --frozen pytest -n "${VIDEO_ASSETS_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
