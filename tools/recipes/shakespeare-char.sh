#!/usr/bin/env bash
# Character-level Tiny Shakespeare with dropout: 2-layer LSTM (embedding 64,
# hidden 512), dropout 0.25 after the embedding and each LSTM, the usual split
# of the character-level anchors (first 90% of input.txt for training, last
# 10% for validation), batch 64 x time 64 (245 steps per epoch), Adam lr 0.002
# with 100 warm-up steps and a half cosine down to 5% over 13 epochs (3,185
# steps, 13 M characters: what 45 minutes of one quiet core of the reference
# machine train, docs/results.md), clip 5. Reports the validation loss in
# nats/char (ln of the perplexity) after every epoch and every 125 steps; keeps
# the best checkpoint. Rerunning it with the same OUT_DIR resumes a stopped run
# (a checkpoint every 100 steps).
#
# Usage: tools/recipes/shakespeare-char.sh SHAKESPEARE_DIR [OUT_DIR] [extra train options...]
#   SHAKESPEARE_DIR holds input.txt (e.g. $TIMELAYERS_DATA/tinyshakespeare; docs/data.md).
set -euo pipefail
RECIPE_DATA=SHAKESPEARE_DIR
RECIPE_SUBDIR=tinyshakespeare
. "$(dirname "$0")/common.sh"

ckpt="$out/shakespeare-char.safetensors"
model=(--cell lstm --layers 2 --embed 64 --hidden 512 --dropout 0.25 --seed 1
       --optim adam --lr-schedule cosine:100:0.05)
[ -f "$ckpt" ] && model=()    # resuming: the checkpoint has the model, optimizer and schedule
recipe_start
# shellcheck disable=SC2046
"$tl" train --train "$data/input.txt" --valid-split 0.1 --level char "${model[@]}" \
  --batch 64 --time 64 --lr 0.002 --clip 5 --epochs 13 --report 25 --eval-every 125 \
  --save-every 100 --keep-best "$out/shakespeare-char.best.safetensors" \
  $(recipe_resume "$ckpt") --out "$ckpt" --log "$out/shakespeare-char.csv" "$@" \
  | tee -a "$out/shakespeare-char.log"
recipe_wall_time "$out/shakespeare-char.log"
echo "validation loss (nats/char):"
awk -F, 'NR > 1 && $5 != "nan" { printf "  epoch %s step %s: %.4f (perplexity %s)\n", $1, $2, log($5), $5 }' \
  "$out/shakespeare-char.csv" | tee -a "$out/shakespeare-char.log"
best="$out/shakespeare-char.best.safetensors"
[ -f "$best" ] || best=$ckpt     # stopped before its first validation
"$tl" sample "$best" --prompt "ROMEO:" --length 400 --temperature 0.8 |
  tee -a "$out/shakespeare-char.log"
