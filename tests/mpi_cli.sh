#!/usr/bin/env bash
# `mpirun -np 2 timelayers train` end to end:
# - the README's command trains, process 0 alone prints and writes;
# - a rank killed with SIGKILL mid-run ends the job with a non-zero status
#   within seconds; the last checkpoint is intact and resumes, with 2
#   processes and with 1;
# - processes given different training files refuse before the first step;
# - a batch not divisible by the processes is refused.
# Usage: tests/mpi_cli.sh BUILD_DIR
set -euo pipefail
tl="$(cd "$1" && pwd)/tools/timelayers"
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# Open MPI's own blocks left at exit: see tests/mpi_run.sh.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mpi() { timeout 120 mpirun --oversubscribe --allow-run-as-root "$@"; }

for i in $(seq 200); do
  echo "the cat sat on the mat and the dog sat on the log $((i % 7))"
done >"$tmp/train.txt"
sed 's/cat/bat/' "$tmp/train.txt" >"$tmp/other.txt"
common=(--level word --embed 8 --hidden 16 --time 8 --epochs 100000)
small=(--train "$tmp/train.txt" "${common[@]}" --batch 8)

# The README's command.
(cd "$tmp" && mpi -np 2 "$tl" train "${small[@]}" --max-steps 20 --report 10 \
   --out readme.safetensors --log readme.csv) >"$tmp/out" 2>"$tmp/err" ||
  fail "mpirun -np 2 timelayers train: $(cat "$tmp/err")"
[ "$(grep -c '^data:' "$tmp/out")" = 1 ] || fail "expected one process to print: $(cat "$tmp/out")"
grep -q "data parallel: 2 processes, 4 rows each" "$tmp/out" || fail "no group line: $(cat "$tmp/out")"
[ "$(wc -l <"$tmp/readme.csv")" = 3 ] || fail "the log should have a header and 2 reports"
"$tl" info "$tmp/readme.safetensors" | grep -q '"step":20' || fail "checkpoint at step 20"
echo "mpi cli: mpirun -np 2 timelayers train wrote its checkpoint and log once"

# A rank killed mid-run.
ck="$tmp/kill.safetensors"
mpi -np 2 "$tl" train "${small[@]}" --hidden 64 --save-every 5 --max-steps 1000000 --quiet \
  --out "$ck" >"$tmp/kill.out" 2>"$tmp/kill.err" &
job=$!
pids+=("$job")
for _ in $(seq 300); do [ -e "$ck" ] && break; sleep 0.1; done
[ -e "$ck" ] || fail "no checkpoint after 30 s"
sleep 0.5
victim=""
# Rank 1 of this job: the process whose command line names $ck and whose
# environment says rank 1.
for p in $(pgrep -f -- "--out $ck"); do
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && victim=$p
done
[ -n "$victim" ] || fail "rank 1 of the job not found (job output: $(cat "$tmp/kill.out" "$tmp/kill.err"))"
t0=$(date +%s%N)
kill -KILL "$victim"
rc=0
wait "$job" || rc=$?
took=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" != 0 ] || fail "the job ended with status 0 after rank 1 was killed"
[ "$took" -lt 10000 ] || fail "the job took $took ms to end after the kill"
step=$("$tl" info "$ck" | sed -n 's/^train: .*"step":\([0-9]*\).*/\1/p')
[ -n "$step" ] || fail "the checkpoint left by the killed job does not load"
echo "mpi cli: rank 1 killed: job ended in $took ms with status $rc; checkpoint at step $step loads"
mpi -np 2 "$tl" train "${small[@]}" --hidden 64 --resume "$ck" --max-steps $((step + 5)) \
  --quiet --out "$tmp/r2.safetensors" >/dev/null 2>"$tmp/err" || fail "resume with 2: $(cat "$tmp/err")"
"$tl" train "${small[@]}" --hidden 64 --resume "$ck" --max-steps $((step + 5)) --quiet \
  --out "$tmp/r1.safetensors" >/dev/null 2>"$tmp/err" || fail "resume with 1: $(cat "$tmp/err")"
"$tl" info "$tmp/r1.safetensors" | grep -q "\"step\":$((step + 5))" || fail "resumed run's step"
echo "mpi cli: the checkpoint resumed with 2 processes and with 1"

# Different data on the two ranks (one command per rank).
rc=0
mpi -np 1 "$tl" train "${small[@]}" --max-steps 5 --out "$tmp/mis.safetensors" : \
    -np 1 "$tl" train --train "$tmp/other.txt" "${common[@]}" --batch 8 --max-steps 5 --out "$tmp/mis.safetensors" \
    >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" != 0 ] || fail "different data on the two ranks was accepted"
grep -q "mismatch in the" "$tmp/err" || fail "no mismatch message: $(cat "$tmp/err")"
[ ! -e "$tmp/mis.safetensors" ] || fail "a checkpoint was written despite the mismatch"
grep -q "iter" "$tmp/out" && fail "training steps ran despite the mismatch"
echo "mpi cli: refused: $(grep -m1 "mismatch" "$tmp/err")"

rc=0
mpi -np 2 "$tl" train --train "$tmp/train.txt" "${common[@]}" --batch 7 --max-steps 5 --out "$tmp/odd.safetensors" \
  >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" != 0 ] && grep -q "divisible by 2" "$tmp/err" || fail "batch 7 over 2 ranks: rc $rc: $(cat "$tmp/err")"
echo "mpi cli: batch 7 over 2 processes refused"
