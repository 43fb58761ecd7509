#!/usr/bin/env bash
# Creates .venv (once) and installs muskie with its test extras and the developer tools (the dev extra: ruff,
# mypy, pdoc, pre-commit; about 15 s more on a fresh venv). torch is pinned to the CPU build that this kind of
# machine has on disk; on a GPU machine install the torch build you need first.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q "torch==2.13.0"
fi
.venv/bin/python -m pip install -q -e ".[test,dev]"
