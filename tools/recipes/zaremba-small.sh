#!/usr/bin/env bash
# The "small" non-regularised PTB model of Zaremba, Sutskever & Vinyals 2014
# ("Recurrent Neural Network Regularization"): Embedding(10000, 200) -> LSTM(200,
# 200) x 2 -> Affine(200, 10000), every value initialised U(-0.1, 0.1), SGD lr 1
# for 4 epochs then halved every epoch, global-norm clip 5, batch 20 x time 20,
# 13 epochs; test perplexity in the reference mode. The paper reports 114.5
# (validation 120.7); target <= 116. The loss is summed over the 20 time steps
# and averaged over the batch (--loss-norm cs231n), as in the paper's code and
# TensorFlow's ptb_word_lm: with the per-token mean the gradient, and so the
# step at lr 1, would be 20 times smaller.
#
# Usage: tools/recipes/zaremba-small.sh PTB_DIR [OUT_DIR] [extra train options...]
#   PTB_DIR holds ptb.train.txt, ptb.valid.txt, ptb.test.txt; it may be left out
#   when TIMELAYERS_DATA is set (then PTB_DIR = $TIMELAYERS_DATA/ptb).
# Rerunning with the same OUT_DIR resumes a stopped run where it stopped
# (checkpoint every 500 steps and at every epoch end).
set -euo pipefail
RECIPE_DATA=PTB_DIR RECIPE_SUBDIR=ptb
. "$(dirname "$0")/common.sh"

ck="$out/zaremba-small.safetensors"
resume=$(recipe_resume "$ck")
recipe_start
# shellcheck disable=SC2086 # $resume is empty or two words
"$tl" train --train "$data/ptb.train.txt" --valid "$data/ptb.valid.txt" \
  --test "$data/ptb.test.txt" --level word --cell lstm --layers 2 --embed 200 --hidden 200 \
  --init uniform:0.1 --loss-norm cs231n --batch 20 --time 20 --optim sgd --lr 1 --lr-schedule step:4:0.5 \
  --clip 5 --epochs 13 --seed 1 --report 200 --save-every 500 \
  --out "$ck" --keep-best "$out/zaremba-small.best.safetensors" \
  --log "$out/zaremba-small.csv" $resume "$@" | tee -a "$out/zaremba-small.log"
recipe_wall_time "$out/zaremba-small.log"
