#!/usr/bin/env bash
# The CLI never destroys a user's files and stops cleanly (docs/reliability.md,
# "The user's files"): outputs that name inputs, --resume's default output,
# what may be replaced, checks before training, rescue of a model whose save
# failed, SIGINT/SIGTERM, non-finite optimizer state, the output lock, the CSV
# log after failures and resumes.
# Usage: tests/reliability_cli.sh BUILD_DIR
set -euo pipefail
tl="$(cd "$1" && pwd)/tools/timelayers"
tmp=$(mktemp -d)
export TMPDIR="$tmp"   # where a failed save rescues the model
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  chmod -R u+w "$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_fail() {  # CODE PATTERN CMD...: exits with CODE, stderr matches PATTERN
  local code=$1 pattern=$2; shift 2
  local rc=0
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" = "$code" ] || fail "$* exited $rc, expected $code: $(cat "$tmp/err")"
  grep -q -- "$pattern" "$tmp/err" || fail "$*: stderr lacks '$pattern': $(cat "$tmp/err")"
}
# The step stored in a checkpoint.
step_of() { "$tl" info "$1" | sed -n 's/^train: .*"step":\([0-9]*\).*/\1/p'; }
# Wait until FILE exists (at most 60 s).
wait_for() { for _ in $(seq 600); do [ -e "$1" ] && return 0; sleep 0.1; done; fail "no $1"; }

for i in $(seq 60); do
  echo "the cat sat on the mat and the dog sat on the log $i"
done >"$tmp/train.txt"
head -20 "$tmp/train.txt" >"$tmp/valid.txt"
cp "$tmp/train.txt" "$tmp/train.orig"
small=(--train "$tmp/train.txt" --embed 8 --hidden 16 --batch 2 --time 8 --quiet)
# A run long enough to be signalled or locked (stopped by the test).
long=(--train "$tmp/train.txt" --embed 8 --hidden 256 --batch 8 --time 32 --epochs 1000
      --report 1)

# ---- outputs that name an input are refused before training ----------------
mkdir "$tmp/d"
ln "$tmp/train.txt" "$tmp/d/hardlink.txt"
expect_fail 2 "is the training file" "$tl" train "${small[@]}" --out "$tmp/d/../train.txt"
expect_fail 2 "is the training file" "$tl" train "${small[@]}" --out "$tmp/d/hardlink.txt"
expect_fail 2 "is the validation file" "$tl" train "${small[@]}" --valid "$tmp/valid.txt" \
  --out "$tmp/valid.txt"
expect_fail 2 "is the training file" "$tl" train "${small[@]}" --log "$tmp/train.txt"
expect_fail 2 "same file" "$tl" train "${small[@]}" --log "$tmp/o.st" --out "$tmp/o.st"
cmp -s "$tmp/train.txt" "$tmp/train.orig" || fail "the corpus changed"
"$tl" train "${small[@]}" --max-steps 3 --out "$tmp/r.st" >/dev/null
cp "$tmp/r.st" "$tmp/r.orig"
expect_fail 2 "is the checkpoint resumed" "$tl" train "${small[@]}" --resume "$tmp/r.st" \
  --log "$tmp/r.st"
cmp -s "$tmp/r.st" "$tmp/r.orig" || fail "the resumed checkpoint changed"
echo "same-file outputs: refused"

# ---- --resume X writes X unless --out is given ------------------------------
(cd "$tmp/d" && "$tl" train "${small[@]}" --resume "$tmp/r.st" --max-steps 5 >/dev/null)
[ ! -e "$tmp/d/model.safetensors" ] || fail "--resume wrote ./model.safetensors"
[ "$(step_of "$tmp/r.st")" = 5 ] || fail "--resume did not update its checkpoint"

# ---- only regular files the user may write are replaced ---------------------
mkfifo "$tmp/fifo"
expect_fail 2 "not a regular file" "$tl" train "${small[@]}" --max-steps 1 --out "$tmp/fifo"
[ -p "$tmp/fifo" ] || fail "the FIFO was replaced"
expect_fail 2 "not a regular file" "$tl" train "${small[@]}" --max-steps 1 --out /dev/null
[ -c /dev/null ] || fail "/dev/null was replaced"
echo "keep me" >"$tmp/ro.st"
chmod 444 "$tmp/ro.st"
expect_fail 2 "read-only" "$tl" train "${small[@]}" --max-steps 1 --out "$tmp/ro.st"
grep -q "keep me" "$tmp/ro.st" || fail "a read-only file was replaced"
expect_fail 2 "directory" "$tl" train "${small[@]}" --max-steps 1 --out "$tmp/nodir/m.st"
expect_fail 2 "directory" "$tl" train "${small[@]}" --max-steps 1 --log "$tmp/nodir/log.csv"
if [ "$(id -u)" != 0 ]; then
  mkdir "$tmp/rodir" && chmod 555 "$tmp/rodir"
  expect_fail 2 "not writable" "$tl" train "${small[@]}" --max-steps 1 --out "$tmp/rodir/m.st"
fi
# A vocabulary whose checkpoint header would pass the limit is refused before training.
python3 -c 'import sys
for i in range(1000000): sys.stdout.write("w%07d%s " % (i, "x" * 100))' >"$tmp/huge.txt" 2>/dev/null &&
  expect_fail 1 "header" "$tl" train --train "$tmp/huge.txt" --level word --embed 1 --hidden 1 \
    --batch 1 --time 1 --max-steps 1 --out "$tmp/huge.st"
grep -q "epoch" "$tmp/out" && fail "training started before the header check"
rm -f "$tmp/huge.txt"
echo "outputs checked before training"

# ---- a failed save keeps the model elsewhere and says where -----------------
mkdir "$tmp/vanish" "$tmp/rescue"
TMPDIR="$tmp/rescue" "$tl" train "${long[@]}" --save-every 1 --out "$tmp/vanish/m.st" \
  >"$tmp/v.out" 2>"$tmp/v.err" &
pid=$!; pids+=("$pid")
wait_for "$tmp/vanish/m.st"
mv "$tmp/vanish" "$tmp/gone"   # at once: the next save finds no directory
rc=0; wait "$pid" || rc=$?
[ "$rc" = 1 ] || fail "a failed save exited $rc: $(cat "$tmp/v.err")"
grep -q "model saved to $tmp/rescue/" "$tmp/v.err" || fail "rescue message: $(cat "$tmp/v.err")"
rescued=$(sed -n "s|.*model saved to \($tmp/rescue/[^ ]*\.safetensors\).*|\1|p" "$tmp/v.err")
"$tl" info "$rescued" >/dev/null || fail "the rescued model does not load"
echo "failed save: $(grep -o 'model saved to.*' "$tmp/v.err")"

# ---- SIGINT / SIGTERM: finish the step, save, exit 130 / 143 ---------------
for sig in INT TERM; do
  "$tl" train "${long[@]}" --out "$tmp/sig.st" >"$tmp/sig.out" 2>"$tmp/sig.err" &
  pid=$!; pids+=("$pid")
  for _ in $(seq 600); do grep -q "iter 2/" "$tmp/sig.out" && break; sleep 0.1; done
  kill -s "$sig" "$pid"
  rc=0; wait "$pid" || rc=$?
  want=$([ "$sig" = INT ] && echo 130 || echo 143)
  [ "$rc" = "$want" ] || fail "SIG$sig: exit $rc, expected $want: $(cat "$tmp/sig.err")"
  grep -q "interrupted.*checkpoint written to $tmp/sig.st" "$tmp/sig.err" ||
    fail "SIG$sig message: $(cat "$tmp/sig.err")"
  s=$(step_of "$tmp/sig.st")
  [ "$s" -ge 2 ] || fail "SIG$sig: checkpoint at step $s"
  echo "SIG$sig: exit $rc, checkpoint at step $s"
  rm -f "$tmp/sig.st"
done
# A second signal aborts at once, leaving no checkpoint behind.
"$tl" train "${long[@]}" --hidden 1024 --out "$tmp/sig2.st" >"$tmp/sig.out" 2>"$tmp/sig.err" &
pid=$!; pids+=("$pid")
for _ in $(seq 600); do grep -q "iter 1/" "$tmp/sig.out" && break; sleep 0.1; done
kill -INT "$pid"; sleep 0.02; kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "second SIGINT: exit $rc"
grep -q "checkpoint written" "$tmp/sig.err" && fail "second SIGINT still saved"
echo "second SIGINT: aborted at once"

# ---- non-finite optimizer state never replaces a good checkpoint ------------
"$tl" train "${small[@]}" --max-steps 4 --out "$tmp/nan.st" >/dev/null
python3 - "$tmp/nan.st" <<'PY'
import json, struct, sys
path = sys.argv[1]
b = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
begin = json.loads(b[8:8 + n])["optim.v"]["data_offsets"][0]
b[8 + n + begin:8 + n + begin + 4] = struct.pack("<f", float("nan"))
open(path, "wb").write(b)
PY
cp "$tmp/nan.st" "$tmp/nan.orig"
expect_fail 1 "non-finite" "$tl" train "${small[@]}" --resume "$tmp/nan.st" --save-every 1 \
  --max-steps 10
cmp -s "$tmp/nan.st" "$tmp/nan.orig" || fail "a NaN optimizer state replaced the checkpoint"
echo "NaN optimizer state: $(tail -1 "$tmp/err")"

# ---- two trainers on one output: the second is refused, naming the first ----
"$tl" train "${long[@]}" --out "$tmp/lock.st" >"$tmp/l.out" 2>&1 &
pid=$!; pids+=("$pid")
for _ in $(seq 600); do grep -q "iter 1/" "$tmp/l.out" && break; sleep 0.1; done
expect_fail 1 "process $pid" "$tl" train "${small[@]}" --max-steps 1 --out "$tmp/lock.st"
kill -TERM "$pid"; wait "$pid" || true
"$tl" train "${small[@]}" --max-steps 1 --out "$tmp/lock.st" >/dev/null ||
  fail "the lock outlived its process"
echo "lock: a second trainer is refused"

# ---- the CSV log ---------------------------------------------------------------
expect_fail 1 "log" "$tl" train "${small[@]}" --max-steps 3 --report 1 --out "$tmp/full.st" \
  --log /dev/full
# Killed after the checkpoint at step 20 but with rows logged up to step 30,
# then resumed: the log equals an uninterrupted run's, rows and averages
# (report every 7 steps, so the first row after the resume spans the restart).
args=("${small[@]}" --epochs 2 --report 7)
"$tl" train "${args[@]}" --out "$tmp/u.st" --log "$tmp/u.csv" >/dev/null
"$tl" train "${args[@]}" --max-steps 20 --out "$tmp/k.st" --log "$tmp/k.csv" >/dev/null
cp "$tmp/k.st" "$tmp/k20.st"
"$tl" train "${args[@]}" --resume "$tmp/k.st" --max-steps 30 --log "$tmp/k.csv" >/dev/null
cp "$tmp/k20.st" "$tmp/k.st"
"$tl" train "${args[@]}" --resume "$tmp/k.st" --log "$tmp/k.csv" >/dev/null
cut -d, -f1-4 "$tmp/u.csv" >"$tmp/u.cut"
cut -d, -f1-4 "$tmp/k.csv" >"$tmp/k.cut"
cmp -s "$tmp/u.cut" "$tmp/k.cut" || fail "log after kill and resume: $(diff "$tmp/u.cut" "$tmp/k.cut" | head)"
echo "CSV log: $(wc -l <"$tmp/k.cut") lines identical after a kill and resume"
echo "reliability_cli: all checks passed"
