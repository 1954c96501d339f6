#!/usr/bin/env bash
# The "medium" regularised PTB model of Zaremba, Sutskever & Vinyals 2014:
# Embedding(10000, 650) -> Dropout 0.5 -> LSTM(650, 650) -> Dropout 0.5 ->
# LSTM(650, 650) -> Dropout 0.5 -> Affine(650, 10000), every value U(-0.05,
# 0.05), SGD lr 1 held 6 epochs then x0.8 per epoch, global-norm clip 5, batch
# 20 x time 35, 39 epochs, the loss summed over time and averaged over the
# batch (--loss-norm cs231n, the paper's code). The paper reports 82.7 test
# perplexity (86.2 validation). One epoch is 1,327 steps, about 15-20
# CPU-minutes on the machines of docs/results.md; 39 epochs take hours:
# rerunning with the same OUT_DIR resumes a stopped run where it stopped
# (checkpoint every 500 steps and at every epoch end). For the side-by-side
# run with PyTorch of docs/results.md add `--epochs 3 --threads 1` and run
# tools/bench/zaremba_torch.py PTB_DIR --epochs 3 at the same time.
#
# Usage: tools/recipes/zaremba-medium.sh PTB_DIR [OUT_DIR] [extra train options...]
#   PTB_DIR holds ptb.train.txt, ptb.valid.txt, ptb.test.txt; it may be left out
#   when TIMELAYERS_DATA is set (then PTB_DIR = $TIMELAYERS_DATA/ptb).
set -euo pipefail
RECIPE_DATA=PTB_DIR RECIPE_SUBDIR=ptb
. "$(dirname "$0")/common.sh"

ck="$out/zaremba-medium.safetensors"
resume=$(recipe_resume "$ck")
recipe_start
# shellcheck disable=SC2086 # $resume is empty or two words
"$tl" train --train "$data/ptb.train.txt" --valid "$data/ptb.valid.txt" \
  --test "$data/ptb.test.txt" --level word --cell lstm --layers 2 --embed 650 --hidden 650 \
  --dropout 0.5 --init uniform:0.05 --loss-norm cs231n --batch 20 --time 35 --optim sgd \
  --lr 1 --lr-schedule step:6:0.8 --clip 5 --epochs 39 --seed 1 --report 100 --save-every 500 \
  --out "$ck" --keep-best "$out/zaremba-medium.best.safetensors" \
  --log "$out/zaremba-medium.csv" $resume "$@" | tee -a "$out/zaremba-medium.log"
recipe_wall_time "$out/zaremba-medium.log"
