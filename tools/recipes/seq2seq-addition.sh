#!/usr/bin/env bash
# The reference's chapter 7 addition task: "a+b" questions (7 characters) and
# "_sum" answers (5 with the start symbol), the textbook's 45,000/5,000 split.
# wordvec 16, hidden 128, batch 128, Adam 0.001, global-norm clip 5, 25 epochs;
# exact-match test accuracy after every epoch. Target for peeky + reversed:
# >= 97% at the last epoch.
#
# Usage: VARIANT=plain|reversed|peeky-reversed tools/recipes/seq2seq-addition.sh \
#            SEQ_DIR [OUT_DIR] [extra seq2seq train options...]
#   SEQ_DIR holds addition.train.txt and addition.test.txt (docs/data.md); it may
#   be left out when TIMELAYERS_DATA is set (then SEQ_DIR = $TIMELAYERS_DATA/dl2-sequence).
# Rerunning with the same OUT_DIR resumes a stopped run (checkpoint every epoch).
set -euo pipefail
RECIPE_DATA=SEQ_DIR RECIPE_SUBDIR=dl2-sequence
. "$(dirname "$0")/common.sh"

variant=${VARIANT:-peeky-reversed}
case $variant in
  plain) opts="--model plain" ;;
  reversed) opts="--model plain --reverse" ;;
  peeky-reversed) opts="--model peeky --reverse" ;;
  *) echo "VARIANT must be plain, reversed or peeky-reversed" >&2; exit 2 ;;
esac
name="$out/addition-$variant"
resume=""
[ -f "$name.safetensors" ] && resume=--resume
recipe_start
# shellcheck disable=SC2086 # $opts and $resume are words
"$tl" seq2seq train --train "$data/addition.train.txt" --test "$data/addition.test.txt" \
  $opts --wordvec 16 --hidden 128 --batch 128 --lr 0.001 --clip 5 --epochs 25 --seed 1 \
  --report 100 --out "$name.safetensors" --log-csv "$name.csv" $resume "$@" | tee -a "$name.log"
recipe_wall_time "$name.log"
