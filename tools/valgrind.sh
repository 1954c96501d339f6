#!/usr/bin/env bash
# Run a representative subset under valgrind's memcheck with full leak
# checking: the CLI training a tiny model (build, train, save), resuming it
# (load), sampling, evaluating and describing it, the same for a tiny attention
# sequence-to-sequence model, and the OOM, API-error and checkpoint tests. Any memory error or leak fails. Needs a built tree.
# Usage: tools/valgrind.sh [BUILD_DIR]   (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
command -v valgrind >/dev/null || { echo "valgrind not found (tools/install-deps.sh --test)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1
# The programs may re-execute themselves to pick OpenBLAS's kernels and its threads' idle
# spinning (tools/cli/blas_core.h); the new image would run outside valgrind.
export TL_KEEP_OPENBLAS_CORE=1 OPENBLAS_THREAD_TIMEOUT=4
# OpenBLAS keeps per-thread buffers until exit on purpose: reachable, not leaked.
vg=(valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect)
run() { echo "valgrind: $*"; "${vg[@]}" "$@" >"$tmp/out" 2>&1 || { cat "$tmp/out"; exit 1; }; }

for i in $(seq 30); do echo "the cat sat on the mat and the dog sat on the log"; done >"$tmp/t.txt"
tl="$build/tools/timelayers"
ck="$tmp/m.safetensors"
opts=(--train "$tmp/t.txt" --valid "$tmp/t.txt" --level word --embed 8 --hidden 16 --layers 2
      --batch 2 --time 5 --quiet --out "$ck")
run "$tl" train "${opts[@]}" --max-steps 6
run "$tl" train "${opts[@]}" --max-steps 12 --resume "$ck"
run "$tl" sample "$ck" --prompt "the cat" --length 10 --seed 1
run "$tl" eval "$ck" "$tmp/t.txt" --mode stream
run "$tl" info "$ck" --tensors
tools/examples/make-addition.sh 100 9 1 >"$tmp/pairs.txt"
s2s=(--train "$tmp/pairs.txt" --test "$tmp/pairs.txt" --model attention --reverse --wordvec 4
     --hidden 8 --batch 16 --quiet --out "$tmp/s.safetensors")
run "$tl" seq2seq train "${s2s[@]}" --epochs 1
run "$tl" seq2seq train "${s2s[@]}" --epochs 2 --resume
run "$tl" seq2seq eval "$tmp/s.safetensors" "$tmp/pairs.txt"
run "$tl" seq2seq generate "$tmp/s.safetensors" "$tmp/pairs.txt" --attention-csv "$tmp/w.csv"
for t in oom api_errors checkpoint numeric; do
  run "$build/tests/test_${t}_f32"
done
echo "valgrind: no memory errors, no leaks"
