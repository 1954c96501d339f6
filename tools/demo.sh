#!/usr/bin/env bash
# The README's first command: install build dependencies if missing, build,
# train a small character-level LSTM on the bundled default corpus (this
# checkout's own sources and docs) for about a minute, then print samples.
# Usage: tools/demo.sh [SECONDS]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}

tools/install-deps.sh
if [ ! -f build/build.ninja ]; then
  meson setup build >/dev/null
fi
ninja -C build >/dev/null

out=build/demo.safetensors
echo "== training for ${seconds}s on the default corpus (checkpoint: $out) =="
build/tools/timelayers train --max-seconds "$seconds" --epochs 100 --embed 48 --hidden 256 \
  --batch 32 --time 64 --optim adam --lr 0.003 --clip 1 --report 50 --out "$out"
echo
echo "== samples (temperature 0.7) =="
for seed in 1 2 3; do
  echo "--- seed $seed ---"
  build/tools/timelayers sample "$out" --length 300 --temperature 0.7 --seed "$seed"
done
