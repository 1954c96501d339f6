#!/usr/bin/env bash
# The reference's chapter 8 date task: dates written in many formats (29
# characters) to "_YYYY-MM-DD", the textbook's 45,000/5,000 split. wordvec 16,
# hidden 256, batch 128, Adam 0.001, global-norm clip 5, reversed questions,
# 10 epochs. Target for the attention model: >= 99.9% exact-match test accuracy.
#
# Usage: VARIANT=attention|peeky|plain tools/recipes/seq2seq-dates.sh \
#            SEQ_DIR [OUT_DIR] [extra seq2seq train options...]
#   SEQ_DIR holds date.train.txt and date.test.txt (docs/data.md); it may be left
#   out when TIMELAYERS_DATA is set (then SEQ_DIR = $TIMELAYERS_DATA/dl2-sequence).
#   The attention run writes the weights of the first test question to
#   OUT_DIR/dates-attention.weights.csv.
# Rerunning with the same OUT_DIR resumes a stopped run (checkpoint every epoch).
set -euo pipefail
RECIPE_DATA=SEQ_DIR RECIPE_SUBDIR=dl2-sequence
. "$(dirname "$0")/common.sh"

variant=${VARIANT:-attention}
case $variant in
  attention|peeky|plain) ;;
  *) echo "VARIANT must be attention, peeky or plain" >&2; exit 2 ;;
esac
name="$out/dates-$variant"
resume=""
[ -f "$name.safetensors" ] && resume=--resume
recipe_start
# shellcheck disable=SC2086 # $resume is empty or one word
"$tl" seq2seq train --train "$data/date.train.txt" --test "$data/date.test.txt" \
  --model "$variant" --reverse --wordvec 16 --hidden 256 --batch 128 --lr 0.001 --clip 5 \
  --epochs 10 --seed 1 --report 50 --out "$name.safetensors" --log-csv "$name.csv" $resume \
  "$@" | tee -a "$name.log"
recipe_wall_time "$name.log"
if [ "$variant" = attention ]; then
  head -1 "$data/date.test.txt" | "$tl" seq2seq generate "$name.safetensors" \
    --attention-csv "$name.weights.csv"
fi
