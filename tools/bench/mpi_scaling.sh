#!/usr/bin/env bash
# Data-parallel scaling of `timelayers train` on this machine (docs/distributed.md):
# tokens/s of 1 process x 1 thread (1x1); 2 processes x 1 thread splitting the
# global batch (2x1: each process B/2 rows, the same model and loss curve as 1x1);
# 2 processes x 1 thread with B rows each (2x1w: weak scaling, a global batch
# of 2B); 1 process x 2 threads (1x2); two independent 1x1 runs at the same
# time (alone: what the two cores give without any communication); and 1 process
# x 1 thread with B/2 rows (1x1h: the compute of one 2x1 rank alone, so that
# 2x1 / (2 x 1x1h) is what communication and synchronisation leave). Reference
# configurations A, B and C (tools/bench/bench.c), random tokens (speed does not
# depend on the data), SGD, clipping at 1. Efficiency = tokens/s over twice 1x1's.
# Each configuration runs its layouts back to back, REPEAT times, so that ratios
# come from the same moments of a shared machine; tokens/s is measured between
# the first and the last report (start-up excluded).
# Usage: tools/bench/mpi_scaling.sh BUILD_DIR [STEPS] [REPEAT] [CONFIGS]
#   defaults: 12 steps, 3 repeats, "A B C"
set -euo pipefail
tl="$(cd "$1" && pwd)/tools/timelayers"
steps=${2:-12}
repeat=${3:-3}
configs=${4:-A B C}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_MCA_btl_vader_single_copy_mechanism=none

# Word corpora of 10000 distinct words and a char corpus of 65 characters.
awk 'BEGIN { srand(1); for (i = 0; i < 400000; i++) printf "w%d%s", int(rand() * 10000), (i % 20 == 19) ? "\n" : " " }' >"$tmp/words.txt"
awk 'BEGIN { srand(2); s = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?-"
             for (i = 0; i < 400000; i++) printf "%s", substr(s, int(rand() * 65) + 1, 1)
             print "" }' >"$tmp/chars.txt"

args_of() {
  case $1 in
    A) echo "--train $tmp/words.txt --level word --embed 100 --hidden 100 --batch 20 --time 35" ;;
    B) echo "--train $tmp/chars.txt --level char --embed 64 --hidden 512 --batch 32 --time 64" ;;
    C) echo "--train $tmp/words.txt --level word --embed 650 --hidden 650 --batch 20 --time 35" ;;
  esac
}

# tokens/s between the first and the last report of a CSV log (report every 2 steps).
rate() {
  awk -F, -v bt="$2" 'NR == 2 { s0 = $2; t0 = $9 } NR > 2 { s1 = $2; t1 = $9 }
                      END { printf "%.0f", (s1 - s0) * bt / (t1 - t0) }' "$1"
}

run() {  # config layout [suffix]
  local a; a=$(args_of "$1")
  [ "$2" = 2x1w ] && a=$(echo "$a" | awk '{ for (i = 1; i <= NF; i++) { if ($(i-1) == "--batch") $i *= 2 } print }')
  [ "$2" = 1x1h ] && a=$(echo "$a" | awk '{ for (i = 1; i <= NF; i++) { if ($(i-1) == "--batch") $i /= 2 } print }')
  local common=(train $a --optim sgd --lr 0.1 --clip 1 --max-steps "$steps" --report 2 --quiet
                --out "$tmp/ck${3:-}.safetensors" --log "$tmp/log${3:-}.csv")
  case $2 in
    alone)  # two 1x1 runs at once; the sum of their rates
      run "$1" 1x1 a >"$tmp/rate-a" & run "$1" 1x1 b >"$tmp/rate-b"; wait
      echo $(($(cat "$tmp/rate-a") + $(cat "$tmp/rate-b"))); return ;;
    1x1|1x1h) TL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$tl" "${common[@]}" --threads 1 >/dev/null ;;
    1x2) "$tl" "${common[@]}" --threads 2 >/dev/null ;;
    2x1|2x1w) mpirun --oversubscribe --allow-run-as-root -np 2 -x OPENBLAS_NUM_THREADS=1 \
           "$tl" "${common[@]}" --threads 1 >/dev/null ;;
  esac
  local bt; bt=$(echo "$a" | awk '{ for (i = 1; i <= NF; i++) { if ($i == "--batch") b = $(i+1); if ($i == "--time") t = $(i+1) } print b * t }')
  rate "$tmp/log${3:-}.csv" "$bt"
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $steps steps per run"
printf "%-6s %-3s %8s %8s %8s %8s %8s %8s | %7s %7s %7s %7s %7s\n" config rep 1x1 2x1 2x1w 1x2 alone 1x1h \
  "eff2x1" "eff2x1w" "eff1x2" "alone" "2x1/1x1h"
pct() { echo "$1 / $2 * 100" | bc -l; }
for c in $configs; do
  for r in $(seq "$repeat"); do
    one=$(run "$c" 1x1); two=$(run "$c" 2x1); weak=$(run "$c" 2x1w); thr=$(run "$c" 1x2)
    alone=$(run "$c" alone); half=$(run "$c" 1x1h)
    printf "%-6s %-3s %8s %8s %8s %8s %8s %8s | %6.1f%% %6.1f%% %6.1f%% %6.1f%% %6.1f%%\n" "$c" "$r" "$one" "$two" \
      "$weak" "$thr" "$alone" "$half" "$(pct "$two" $((2 * one)))" "$(pct "$weak" $((2 * one)))" \
      "$(pct "$thr" $((2 * one)))" "$(pct "$alone" $((2 * one)))" "$(pct "$two" $((2 * half)))"
  done
done
