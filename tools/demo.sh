#!/usr/bin/env bash
# The README's first command: install the build dependencies if missing, build
# the timelayers program (only it), train a character-level LSTM on the
# bundled default corpus (Tiny Shakespeare) for about a minute, then print
# samples that start from "ROMEO:" and the commands to try next.
# Usage: tools/demo.sh [SECONDS]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}

tools/install-deps.sh
if [ ! -f build/build.ninja ]; then
  echo "== configuring the build directory build/ =="
  meson setup build >/dev/null
fi
echo "== building build/tools/timelayers (the first time takes a minute or two) =="
ninja -C build tools/timelayers >/dev/null

tl=build/tools/timelayers
out=build/demo.safetensors
echo "== training for ${seconds}s on Tiny Shakespeare (checkpoint: $out) =="
"$tl" train --max-seconds "$seconds" --epochs 100 --embed 48 --hidden 256 \
  --batch 32 --time 64 --optim adam --lr 0.003 --clip 1 --report 50 --out "$out"
echo
echo "== samples after \"ROMEO:\" (temperature 0.7) =="
for seed in 1 2 3; do
  echo "--- seed $seed ---"
  "$tl" sample "$out" --prompt "ROMEO:" --length 300 --temperature 0.7 --seed "$seed"
  echo
done
cat <<EOT
== next ==
  $tl sample $out --prompt "JULIET:" --length 500 --temperature 0.8
  $tl eval $out data/tinyshakespeare.txt --mode stream
  $tl info $out
  $tl train --resume $out --max-seconds 600 --epochs 100 --out $out   # train longer
  $tl train --train YOUR.txt --level char --layers 2 --hidden 256 --out yours.safetensors
  $tl --help                                   # every command; COMMAND --help for its options
  tools/test.sh                                # the whole test suite
EOT
