#!/usr/bin/env bash
# The main job: pre-train Muskie-tiny on synthetic scenes on the CPU (under 10 minutes on 2 cores), then
# reconstruct masked views of held-out scenes, print the masked-pixel errors and write figures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${OUT:-runs/tiny-cpu}
.venv/bin/muskie pretrain --recipe tiny-cpu --out "$OUT" --max-minutes 9.5 "$@"
.venv/bin/muskie eval masked-views --checkpoint "$OUT/checkpoint-last.pt" --out "$OUT/masked_views" \
  --samples 64 --views 4 --refs 2 --figures 2
