#!/usr/bin/env bash
# Write N addition pairs "a+b<pad>_sum<pad>" in the layout of the reference's
# chapter 7 data (question padded with spaces to 7 characters, answer "_" +
# sum padded to 5), with a and b uniform in [0, MAX]: data for
# `timelayers seq2seq` that the project makes itself (tests, demos).
# Usage: tools/examples/make-addition.sh N [MAX (default 999)] [SEED (default 1)]
set -euo pipefail
n=${1:?usage: $0 N [MAX] [SEED]}
max=${2:-999}
seed=${3:-1}
awk -v n="$n" -v max="$max" -v seed="$seed" 'BEGIN {
  srand(seed)
  for (i = 0; i < n; i++) {
    a = int(rand() * (max + 1)); b = int(rand() * (max + 1))
    printf "%-7s_%-4s\n", a "+" b, a + b
  }
}'
