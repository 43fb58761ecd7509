#!/usr/bin/env bash
# Builds the API reference, HTML from the docstrings (pdoc), into build/api/ (open build/api/index.html).
# Offline: pdoc's pages need no CDN (no --math, no --mermaid). A module that is missing or fails to import
# fails the build. The python is .venv's (scripts/setup.sh installs pdoc); PYTHON=... picks another.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
out=build/api
# The library's public modules. A package with __all__ shows what it exports, one without it each of its
# modules. Not muskie.cli: the commands are documented by `muskie <command> --help` and call the functions here.
modules=(
    muskie muskie.loading muskie.features muskie.model muskie.weights muskie.data muskie.geometry
    muskie.pretraining muskie.train muskie.recon muskie.eval muskie.peers muskie.vis muskie.constants
    muskie.devices
)
rm -rf "$out"  # no pages of modules that are gone
# pdoc only warns for a module it cannot find or import; these filters make those warnings errors
"$python" -W "error:Cannot find spec:UserWarning" -W "error:Couldn't import:UserWarning" \
    -W "error:Error loading:UserWarning" -W "error:Error importing:UserWarning" \
    -m pdoc --docformat google --no-show-source --output-directory "$out" "${modules[@]}"
echo "API reference: $out/index.html ($(find "$out" -name '*.html' | wc -l) pages)"
