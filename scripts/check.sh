#!/usr/bin/env bash
# The developer checks, with .venv's tools (the dev extra; scripts/setup.sh installs it): ruff's lint and
# format check, mypy on the public API, the API reference build. Runs every check, then exits non-zero if
# any failed. CI runs it; so does `pre-commit run --all-files`, all but the docs.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
failed=()
run() {
    local name=$1
    shift
    echo "== $name: $*"
    "$@" || failed+=("$name")
}
run "ruff check" "$bin/ruff" check --output-format concise .
run "ruff format" "$bin/ruff" format --check --output-format concise .
run mypy "$bin/mypy"
run docs env PYTHON="$bin/python" scripts/docs.sh
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}"
    exit 1
fi
echo "all checks passed"
