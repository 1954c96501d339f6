#!/usr/bin/env bash
# The textbook's Penn Treebank recipe ("Deep Learning from Scratch 2", ch. 6,
# train_rnnlm.py): Embedding(10000, 100) -> LSTM(100, 100) -> Affine(100, 10000),
# SGD lr 20, global-norm clip 0.25, batch 20 x time 35, 4 epochs, then test
# perplexity in the reference evaluation mode. The textbook reports 136.1-136.4.
#
# Usage: tools/recipes/ptb-dl2.sh PTB_DIR [OUT_DIR] [extra train options...]
#   PTB_DIR holds ptb.train.txt and ptb.test.txt (e.g. $TIMELAYERS_DATA/ptb; docs/data.md says where to get it).
set -euo pipefail
RECIPE_DATA=PTB_DIR
. "$(dirname "$0")/common.sh"

recipe_start
"$tl" train --train "$data/ptb.train.txt" --test "$data/ptb.test.txt" \
  --level word --cell lstm --layers 1 --embed 100 --hidden 100 \
  --batch 20 --time 35 --optim sgd --lr 20 --clip 0.25 --epochs 4 --seed 1 --report 100 \
  --out "$out/ptb-dl2.safetensors" --log "$out/ptb-dl2.csv" "$@" | tee "$out/ptb-dl2.log"
recipe_wall_time "$out/ptb-dl2.log"
