#!/usr/bin/env bash
# Character-level Tiny Shakespeare with a GRU: the model, split and budget of
# shakespeare-char.sh (2 layers, embedding 64, hidden 128, the last 5% held out
# for validation, Adam lr 0.002, global-norm clip 5, batch 32 x time 64, 10
# epochs, seed 1) with --cell gru, so that the two validation curves compare
# (docs/results.md). Reports the validation loss in nats/char after every epoch.
#
# Usage: tools/recipes/shakespeare-char-gru.sh SHAKESPEARE_DIR [OUT_DIR] [extra train options...]
#   SHAKESPEARE_DIR holds input.txt; it may be left out when TIMELAYERS_DATA is
#   set (then it is $TIMELAYERS_DATA/tinyshakespeare).
# Rerunning with the same OUT_DIR resumes a stopped run where it stopped
# (checkpoint every 100 steps and at every epoch end).
set -euo pipefail
RECIPE_DATA=SHAKESPEARE_DIR RECIPE_SUBDIR=tinyshakespeare
. "$(dirname "$0")/common.sh"

ck="$out/shakespeare-char-gru.safetensors"
resume=$(recipe_resume "$ck")
recipe_start
# shellcheck disable=SC2086 # $resume is empty or two words
"$tl" train --train "$data/input.txt" --valid-split 0.05 --level char \
  --cell gru --layers 2 --embed 64 --hidden 128 --batch 32 --time 64 \
  --optim adam --lr 0.002 --clip 5 --epochs 10 --seed 1 --report 200 --save-every 100 \
  --out "$ck" --log "$out/shakespeare-char-gru.csv" $resume "$@" \
  | tee -a "$out/shakespeare-char-gru.log"
recipe_wall_time "$out/shakespeare-char-gru.log"
echo "validation loss per epoch (nats/char):"
awk -F, 'NR > 1 && $5 != "nan" { printf "  epoch %s: %.4f (perplexity %s)\n", $1, log($5), $5 }' \
  "$out/shakespeare-char-gru.csv" | tee -a "$out/shakespeare-char-gru.log"
"$tl" sample "$ck" --prompt "ROMEO:" --length 400 --temperature 0.8 \
  | tee -a "$out/shakespeare-char-gru.log"
