#!/usr/bin/env bash
# Sets up .venv and runs the whole test suite, two test processes with one thread each.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OMP_NUM_THREADS=1 .venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
