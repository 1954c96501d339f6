#!/usr/bin/env bash
# Character-level Tiny Shakespeare: 2-layer LSTM (embedding 64, hidden 128),
# the last 5% of the text held out for validation, Adam, 10 epochs. Reports
# the validation loss in nats/char (ln of the perplexity) after every epoch.
#
# Usage: tools/recipes/shakespeare-char.sh SHAKESPEARE_DIR [OUT_DIR] [extra train options...]
#   SHAKESPEARE_DIR holds input.txt (e.g. $TIMELAYERS_DATA/tinyshakespeare; docs/data.md).
set -euo pipefail
RECIPE_DATA=SHAKESPEARE_DIR
. "$(dirname "$0")/common.sh"

recipe_start
"$tl" train --train "$data/input.txt" --valid-split 0.05 --level char \
  --cell lstm --layers 2 --embed 64 --hidden 128 --batch 32 --time 64 \
  --optim adam --lr 0.002 --clip 5 --epochs 10 --seed 1 --report 200 \
  --out "$out/shakespeare-char.safetensors" --log "$out/shakespeare-char.csv" "$@" \
  | tee "$out/shakespeare-char.log"
recipe_wall_time "$out/shakespeare-char.log"
echo "validation loss per epoch (nats/char):"
awk -F, 'NR > 1 && $5 != "nan" { printf "  epoch %s: %.4f (perplexity %s)\n", $1, log($5), $5 }' \
  "$out/shakespeare-char.csv" | tee -a "$out/shakespeare-char.log"
"$tl" sample "$out/shakespeare-char.safetensors" --prompt "ROMEO:" \
  --length 400 --temperature 0.8 | tee -a "$out/shakespeare-char.log"
