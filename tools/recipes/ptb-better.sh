#!/usr/bin/env bash
# The textbook's BetterRnnlm (deep-learning-from-scratch-2, chapter 6): Embedding
# (10000, 650) -> Dropout 0.5 -> LSTM(650, 650) -> Dropout 0.5 -> LSTM(650,
# 650) -> Dropout 0.5 -> Affine tied to the embedding (its table transposed),
# the textbook's initialisation, SGD lr 20, global-norm clip 0.25, lr / 4 after
# an epoch whose validation perplexity did not improve, batch 20 x time 35, 40
# epochs, the loss averaged over all tokens. The book reports about 75.8 test
# perplexity. One epoch is 1,327 steps (about 15-20 CPU-minutes on the
# machines of docs/results.md); rerunning with the same OUT_DIR resumes a
# stopped run where it stopped (checkpoint every 500 steps and every epoch).
#
# Usage: tools/recipes/ptb-better.sh PTB_DIR [OUT_DIR] [extra train options...]
#   PTB_DIR holds ptb.train.txt, ptb.valid.txt, ptb.test.txt; it may be left out
#   when TIMELAYERS_DATA is set (then PTB_DIR = $TIMELAYERS_DATA/ptb).
set -euo pipefail
RECIPE_DATA=PTB_DIR RECIPE_SUBDIR=ptb
. "$(dirname "$0")/common.sh"

ck="$out/ptb-better.safetensors"
resume=$(recipe_resume "$ck")
recipe_start
# shellcheck disable=SC2086 # $resume is empty or two words
"$tl" train --train "$data/ptb.train.txt" --valid "$data/ptb.valid.txt" \
  --test "$data/ptb.test.txt" --level word --cell lstm --layers 2 --embed 650 --hidden 650 \
  --dropout 0.5 --tie --batch 20 --time 35 --optim sgd --lr 20 --clip 0.25 \
  --lr-schedule plateau:4 --epochs 40 --seed 1 --report 100 --save-every 500 \
  --out "$ck" --keep-best "$out/ptb-better.best.safetensors" \
  --log "$out/ptb-better.csv" $resume "$@" | tee -a "$out/ptb-better.log"
recipe_wall_time "$out/ptb-better.log"
