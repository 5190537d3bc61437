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
# The type check (about 40 s of one core) runs beside the tests and fills the cores they
# leave idle while the workers start and the last files finish; its verdict counts as much.
mypy_log=$(mktemp)
trap 'rm -f "$mypy_log"' EXIT
uv run --frozen mypy >"$mypy_log" 2>&1 &
mypy_pid=$!
# Test files run in parallel processes (pytest-xdist), each file whole on one worker so its
# module fixtures (generated media, one materialized sample) are made once; the longest
# files first, in the order tests/conftest.py sorts them (LONGEST_FIRST).
status=0
uv run --frozen pytest -n "${VIDEO_ASSETS_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@" || status=$?
mypy_status=0
wait "$mypy_pid" || mypy_status=$?
cat "$mypy_log"
if [ "$mypy_status" -ne 0 ]; then
    echo "mypy failed (exit $mypy_status)" >&2
    [ "$status" -ne 0 ] || status=$mypy_status
fi
exit "$status"
