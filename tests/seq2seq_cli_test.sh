#!/usr/bin/env bash
# End-to-end checks of `timelayers seq2seq` on addition pairs the project makes
# itself (tools/examples/make-addition.sh): a small model learns one-digit sums,
# resuming gives the very same checkpoint as an uninterrupted run, generation is
# deterministic, attention weights are written, and bad files are refused with
# a clear message and a non-zero exit. The output safety of `timelayers train`
# holds here too: outputs naming inputs are refused, the output is locked while
# a run writes it, SIGINT/SIGTERM stop with a checkpoint that resumes exactly
# (also mid-epoch), and a failed save is rescued.
# Usage: tests/seq2seq_cli_test.sh BUILD_DIR
set -euo pipefail
tl="$1/tools/timelayers"
make_addition="$(dirname "$0")/../tools/examples/make-addition.sh"
tmp=$(mktemp -d)
export TMPDIR="$tmp"   # where a failed save rescues the model
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_fail() {  # CODE PATTERN CMD...
  local code=$1 pattern=$2; shift 2
  local rc=0
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
  [ "$rc" = "$code" ] || fail "$* exited $rc, expected $code"
  grep -q -- "$pattern" "$tmp/err" || fail "$*: stderr lacks '$pattern': $(cat "$tmp/err")"
}

"$make_addition" 2000 9 1 >"$tmp/train.txt"
"$make_addition" 200 9 2 >"$tmp/test.txt"
"$tl" seq2seq --help | grep -q -- "--attention-csv" || fail "seq2seq --help"

# One-digit sums: a peeky model with reversed input must get nearly all right.
"$tl" seq2seq train --train "$tmp/train.txt" --test "$tmp/test.txt" --model peeky --reverse \
  --hidden 64 --batch 32 --epochs 12 --lr 0.01 --out "$tmp/p.st" --log-csv "$tmp/p.csv" \
  --quiet --threads 1
"$tl" seq2seq eval "$tmp/p.st" "$tmp/test.txt" >"$tmp/eval"
acc=$(sed 's/.*accuracy \([0-9.]*\)%.*/\1/' "$tmp/eval")
sym=$(sed 's/.*; \([0-9.]*\)% of the symbols right.*/\1/' "$tmp/eval")
# Every exact answer has all its symbols right: the symbol accuracy is at least as high.
awk -v a="$acc" -v s="$sym" 'BEGIN { exit !(s >= a && s <= 100) }' ||
  fail "symbol accuracy '$sym' against exact $acc%: $(cat "$tmp/eval")"
echo "peeky reversed, one-digit sums: test accuracy $acc% (bound 90%)"
awk -v a="$acc" 'BEGIN { exit !(a >= 90) }' || fail "accuracy $acc% < 90%"
[ "$(wc -l <"$tmp/p.csv")" -gt 6 ] || fail "CSV log"
head -1 "$tmp/p.csv" | grep -q "^epoch,step,loss" || fail "CSV header"

# Resume: 2 epochs, then 1 more from the checkpoint, equals 3 epochs at once.
for m in plain attention; do
  "$tl" seq2seq train --train "$tmp/train.txt" --model $m --hidden 16 --batch 64 --epochs 3 \
    --out "$tmp/full.st" --quiet --threads 1
  "$tl" seq2seq train --train "$tmp/train.txt" --model $m --hidden 16 --batch 64 --epochs 2 \
    --out "$tmp/part.st" --quiet --threads 1
  "$tl" seq2seq train --train "$tmp/train.txt" --model $m --hidden 16 --batch 64 --epochs 3 \
    --out "$tmp/part.st" --resume --quiet --threads 1
  cmp -s "$tmp/full.st" "$tmp/part.st" || fail "$m: the resumed run differs"
done

# --max-steps stops in the middle of a report window (40 = 5 x 7 + 5) with a
# checkpoint; the resumed run logs the uninterrupted run's rows: the same
# steps, and the first row after the resume averages the 7 steps of its
# window, 5 of them from before the stop (the report's sums are checkpointed).
train_meta() {  # FILE: the "train" metadata of a checkpoint
  python3 -c 'import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
print(json.loads(b[8:8 + n])["__metadata__"]["train"])' "$1"
}
mid=(seq2seq train --train "$tmp/train.txt" --model attention --hidden 16 --batch 16 --epochs 2
     --report 7 --quiet --threads 1)
"$tl" "${mid[@]}" --out "$tmp/mfull.st" --log-csv "$tmp/mfull.csv"
"$tl" "${mid[@]}" --out "$tmp/mpart.st" --log-csv "$tmp/mpart.csv" --max-steps 40
[ "$(train_meta "$tmp/mpart.st" | grep -o '"step":[0-9]*')" = '"step":40' ] ||
  fail "--max-steps 40: the checkpoint is at $(train_meta "$tmp/mpart.st")"
"$tl" "${mid[@]}" --out "$tmp/mpart.st" --log-csv "$tmp/mpart.csv" --resume
cmp -s "$tmp/mfull.st" "$tmp/mpart.st" || fail "resumed after --max-steps 40: checkpoints differ"
[ "$(cut -d, -f1-5 "$tmp/mfull.csv")" = "$(cut -d, -f1-5 "$tmp/mpart.csv")" ] ||
  fail "resumed mid-window: logs differ: $(diff <(cut -d, -f1-5 "$tmp/mfull.csv") <(cut -d, -f1-5 "$tmp/mpart.csv") | head -6)"
echo "--max-steps 40 (mid-window, report 7) then --resume: $(wc -l <"$tmp/mpart.csv") log lines and the checkpoint equal an uninterrupted run's"

# The "train" metadata is read strictly: a key twice, an rng word that is not
# 16 hex digits (" -1" was read as 2^64 - 1).
set_train() {  # IN OUT dup|rng: a key twice, or rng[0] "-000000000000001"
  python3 - "$@" <<'PY'
import json, re, struct, sys
src, dst, how = sys.argv[1:4]
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
text = h["__metadata__"]["train"]
if how == "dup":
    text = '{"epoch":0,' + text[1:]
else:
    text = re.sub(r'"rng":\["[0-9a-f]{16}"', '"rng":["-000000000000001"', text)
h["__metadata__"]["train"] = text
out = json.dumps(h).encode()
out += b" " * (-len(out) % 8)
open(dst, "wb").write(struct.pack("<Q", len(out)) + out + b[8 + n:])
PY
}
set_train "$tmp/mfull.st" "$tmp/dup.st" dup
expect_fail 1 '"epoch" appears twice' "$tl" "${mid[@]}" --out "$tmp/dup.st" --resume
set_train "$tmp/mfull.st" "$tmp/rng.st" rng
expect_fail 1 'rng\[0\] is not 16 hex digits' "$tl" "${mid[@]}" --out "$tmp/rng.st" --resume
echo "seq2seq train metadata: duplicate keys and a signed rng word refused"
# --resume with another batch or other training pairs (same vocabulary and
# lengths: the lines in another order) is refused, not trained silently.
cp "$tmp/mfull.st" "$tmp/other.st"
expect_fail 1 "trained with batch 16; resume with the same (got 8)" \
  "$tl" "${mid[@]}" --out "$tmp/other.st" --resume --batch 8
tac "$tmp/train.txt" >"$tmp/reordered.txt"
expect_fail 1 "not the training pairs of the checkpoint's run" \
  "$tl" "${mid[@]}" --out "$tmp/other.st" --resume --train "$tmp/reordered.txt"
expect_fail 2 "--hidden differs from the model in $tmp/other.st (attention, wordvec 16, hidden 16)" \
  "$tl" "${mid[@]}" --out "$tmp/other.st" --resume --hidden 32
expect_fail 2 "--model differs" "$tl" "${mid[@]}" --out "$tmp/other.st" --resume --model peeky
expect_fail 2 "--wordvec differs" "$tl" "${mid[@]}" --out "$tmp/other.st" --resume --wordvec 8
cmp -s "$tmp/mfull.st" "$tmp/other.st" || fail "a refused resume changed the checkpoint"
echo "seq2seq --resume: another batch, other pairs, another --model, --wordvec or --hidden refused"

# Generation: questions from a file or standard input, deterministic.
cut -c1-7 "$tmp/test.txt" | head -20 >"$tmp/q.txt"
"$tl" seq2seq generate "$tmp/p.st" "$tmp/q.txt" >"$tmp/g1"
"$tl" seq2seq generate "$tmp/p.st" <"$tmp/q.txt" >"$tmp/g2"
cmp -s "$tmp/g1" "$tmp/g2" || fail "generate from a file and from stdin differ"
[ "$(wc -l <"$tmp/g1")" = 20 ] || fail "generate: 20 answers expected"
echo "3+4" | "$tl" seq2seq generate "$tmp/p.st" | grep -q "^3+4    _7 " || fail "3+4 (padded)"

# Attention weights of the first question: a header and 4 rows of 7 weights.
"$tl" seq2seq generate "$tmp/full.st" "$tmp/q.txt" --attention-csv "$tmp/w.csv" >/dev/null
[ "$(wc -l <"$tmp/w.csv")" = 5 ] || fail "attention CSV rows"
awk -F, 'NR > 1 { s = 0; for (i = 2; i <= NF; i++) s += $i; if (NF != 8 || s < 0.999 || s > 1.001) exit 1 }' \
  "$tmp/w.csv" || fail "attention CSV: rows must hold 7 weights summing to 1"

# Bad input.
printf '1+2    _3   \n1+2     3   \n' >"$tmp/nosep.txt"
expect_fail 1 "nosep.txt:2: no separator" "$tl" seq2seq train --train "$tmp/nosep.txt"
printf '1+2    _3   \n1+22   _23  \n1+2  _3   \n' >"$tmp/len.txt"
expect_fail 1 "len.txt:3: the question has 5 characters, expected 7" \
  "$tl" seq2seq train --train "$tmp/len.txt"
printf '1+2    _3   \n1+2    _3 \n' >"$tmp/alen.txt"
expect_fail 1 "alen.txt:2: the answer has 3 characters" "$tl" seq2seq train --train "$tmp/alen.txt"
printf '1+2    _3    \n' >"$tmp/long.txt"
expect_fail 1 "longer than the model can generate" "$tl" seq2seq eval "$tmp/p.st" "$tmp/long.txt"
printf '1*2    _2   \n' >"$tmp/unknown.txt"
expect_fail 1 "'\*' is not in the vocabulary" "$tl" seq2seq eval "$tmp/p.st" "$tmp/unknown.txt"
echo "123+4567" >"$tmp/qlong.txt"
expect_fail 1 "longer than the model's 7" "$tl" seq2seq generate "$tmp/p.st" "$tmp/qlong.txt"
expect_fail 2 "needs an attention model" "$tl" seq2seq generate "$tmp/p.st" "$tmp/q.txt" \
  --attention-csv "$tmp/x.csv"
expect_fail 2 "plain, peeky or attention" "$tl" seq2seq train --train "$tmp/train.txt" --model gru
expect_fail 2 "needs --train" "$tl" seq2seq train
expect_fail 2 "unknown subcommand" "$tl" seq2seq fit
expect_fail 1 "not a safetensors file" "$tl" seq2seq eval "$tmp/q.txt" "$tmp/test.txt"

# Memory: estimated and refused with the numbers before the model is built
# (a fake cgroup of 100 MB through TIMELAYERS_TEST_SYSROOT, tools/cli/memory.c).
mkdir -p "$tmp/sys/proc/self" "$tmp/sys/sys/fs/cgroup"
echo "0::/" >"$tmp/sys/proc/self/cgroup"
echo 100000000 >"$tmp/sys/sys/fs/cgroup/memory.max"
expect_fail 1 "memory: about [0-9]* MB needed, more than the 100 MB the cgroup's memory limit allows" \
  env TIMELAYERS_TEST_SYSROOT="$tmp/sys" "$tl" seq2seq train --train "$tmp/train.txt" \
  --hidden 2048 --out "$tmp/big.st"
[ ! -e "$tmp/big.st" ] || fail "a refused run wrote its checkpoint"
TIMELAYERS_TEST_SYSROOT="$tmp/sys" "$tl" seq2seq train --train "$tmp/train.txt" --hidden 8 \
  --epochs 1 --out "$tmp/small.st" --threads 1 >"$tmp/out"
grep -q "^memory: about .*; limit 100.0 MB, the cgroup's memory limit" "$tmp/out" ||
  fail "memory line: $(grep memory "$tmp/out")"
echo "memory: $(grep -o 'about.*allows' "$tmp/err")"

# Outputs: never an input, never a non-regular file.
expect_fail 2 "is the training file" "$tl" seq2seq train --train "$tmp/train.txt" \
  --out "$tmp/train.txt"
expect_fail 2 "is the test file" "$tl" seq2seq train --train "$tmp/train.txt" \
  --test "$tmp/test.txt" --log-csv "$tmp/test.txt"
expect_fail 2 "not a regular file" "$tl" seq2seq train --train "$tmp/train.txt" --out "$tmp"
expect_fail 2 "directory" "$tl" seq2seq train --train "$tmp/train.txt" --out "$tmp/nodir/s.st"

# A run long enough to be signalled, locked and have its directory taken away.
long=(seq2seq train --train "$tmp/train.txt" --model attention --hidden 96 --batch 16
      --epochs 2 --report 1 --threads 1)
wait_line() { for _ in $(seq 6000); do grep -q "$2" "$1" && return 0; sleep 0.01; done; fail "no '$2' in $1"; }
cols() { cut -d, -f1-5 "$1"; }   # the log without its timings
"$tl" "${long[@]}" --out "$tmp/full.st" --log-csv "$tmp/full.csv" --quiet
"$tl" "${long[@]}" --out "$tmp/sig.st" --log-csv "$tmp/sig.csv" >"$tmp/sig.out" \
  2>"$tmp/sig.err" &
pid=$!; pids+=("$pid")
wait_line "$tmp/sig.out" "iter 3/"
# Stopped, the run cannot finish while a loaded machine starts the second
# one; the SIGTERM waits, pending, until SIGCONT.
kill -STOP "$pid"
expect_fail 1 "process $pid" "$tl" "${long[@]}" --out "$tmp/sig.st"
kill -TERM "$pid"
kill -CONT "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" = 143 ] || fail "SIGTERM: exit $rc, expected 143: $(cat "$tmp/sig.err")"
grep -q "interrupted at step .*checkpoint written to $tmp/sig.st" "$tmp/sig.err" ||
  fail "SIGTERM message: $(cat "$tmp/sig.err")"
[ -e "$tmp/sig.st.lock" ] && fail "the lock outlived its run"
"$tl" "${long[@]}" --out "$tmp/sig.st" --log-csv "$tmp/sig.csv" --resume --quiet
cmp -s "$tmp/full.st" "$tmp/sig.st" || fail "resumed after SIGTERM mid-epoch: checkpoints differ"
[ "$(cols "$tmp/full.csv")" = "$(cols "$tmp/sig.csv")" ] || fail "resumed after SIGTERM: logs differ"
echo "SIGTERM: $(grep -o 'interrupted at step [0-9]*' "$tmp/sig.err"), exact resume, lock refused a second run"

# A failed save (at the end of epoch 2): the model goes to TMPDIR, as the
# uninterrupted run saved it, and the hint's command takes it up.
# An epoch of this run can be shorter than the poll: when the run has finished
# before the directory went (exit 0 and the complete model in it), the setup
# missed its moment and is tried again; a run that exits 0 with the directory
# gone before its last save is a failure.
for attempt in 1 2 3 4 5; do
  rm -rf "$tmp/vanish" "$tmp/gone"
  mkdir "$tmp/vanish"
  "$tl" "${long[@]}" --out "$tmp/vanish/v.st" >"$tmp/v.out" 2>"$tmp/v.err" &
  pid=$!; pids+=("$pid")
  for _ in $(seq 6000); do [ -e "$tmp/vanish/v.st" ] && break; sleep 0.01; done
  mv "$tmp/vanish" "$tmp/gone"   # the next epoch's save finds no directory
  rc=0; wait "$pid" || rc=$?
  [ "$rc" = 0 ] && cmp -s "$tmp/full.st" "$tmp/gone/v.st" || break
  echo "failed save: the run ended before its directory was moved (attempt $attempt); again"
done
[ "$rc" = 1 ] || fail "a failed save exited $rc: $(cat "$tmp/v.err")"
rescued=$(sed -n "s|.*model saved to \($tmp/timelayers-rescue-[^ ]*\.safetensors\).*|\1|p" "$tmp/v.err")
[ -n "$rescued" ] || fail "rescue message: $(cat "$tmp/v.err")"
grep -q "mv $rescued $tmp/vanish/v.st and the same command with --resume" "$tmp/v.err" ||
  fail "rescue hint: $(cat "$tmp/v.err")"
mkdir "$tmp/vanish" && mv "$rescued" "$tmp/vanish/v.st"
"$tl" "${long[@]}" --out "$tmp/vanish/v.st" --resume --quiet
cmp -s "$tmp/full.st" "$tmp/vanish/v.st" || fail "the rescued model differs"
echo "failed save: rescued, the same model as the uninterrupted run's"

# Killed after the epoch-1 checkpoint with rows logged beyond it: the resumed
# run's log is the uninterrupted run's, without the killed run's extra rows.
# (An epoch can end between the line and the signal: then the run is tried again.)
killed=
for attempt in 1 2 3 4 5; do
  rm -f "$tmp/k.st" "$tmp/k.csv" "$tmp/k.out"
  "$tl" "${long[@]}" --out "$tmp/k.st" --log-csv "$tmp/k.csv" >"$tmp/k.out" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_line "$tmp/k.out" "epoch 2/2  iter 5/"
  if kill -9 "$pid" 2>/dev/null; then killed=1; wait "$pid" || true; break; fi
  wait "$pid" || true
  echo "kill -9: the run ended before the signal (attempt $attempt); again"
done
[ -n "$killed" ] || fail "the run always ended before kill -9 (5 attempts)"
"$tl" "${long[@]}" --out "$tmp/k.st" --log-csv "$tmp/k.csv" --resume --quiet
cmp -s "$tmp/full.st" "$tmp/k.st" || fail "resumed after kill -9: checkpoints differ"
[ "$(cols "$tmp/full.csv")" = "$(cols "$tmp/k.csv")" ] || fail "resumed after kill -9: logs differ"
echo "kill -9 mid-epoch: resumed from the epoch checkpoint, log continued without duplicates"
echo "seq2seq CLI: all checks passed"
