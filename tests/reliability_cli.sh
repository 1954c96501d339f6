#!/usr/bin/env bash
# The CLI never destroys a user's files and stops cleanly (docs/reliability.md,
# "The user's files"): outputs that name inputs, --resume's default output,
# what may be replaced, checks before training, rescue of a model whose save
# failed, SIGINT/SIGTERM, non-finite optimizer state, the output lock, the CSV
# log after failures and resumes. Then hostile inputs (FIFOs, memory), hand-
# edited checkpoints, output errors, --resume's consistency, and messages.
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
# ---- hostile inputs: FIFOs are refused, never waited on ----------------------
"$tl" train "${small[@]}" --max-steps 2 --out "$tmp/ok.st" >/dev/null
for cmd in "info $tmp/fifo" "sample $tmp/fifo" "eval $tmp/fifo $tmp/valid.txt" \
           "train ${small[*]} --resume $tmp/fifo --out $tmp/x.st"; do
  # shellcheck disable=SC2086
  expect_fail 1 "not a regular file" timeout 20 "$tl" $cmd
done
expect_fail 1 "fifo" timeout 20 "$tl" train --train "$tmp/fifo" --max-steps 1 --out "$tmp/x.st"
echo "FIFOs: refused without waiting"

# ---- memory: estimated, printed, and what cannot fit is refused ---------------
"$tl" train "${small[@]}" --max-steps 1 --out "$tmp/mem.st" >"$tmp/out"
grep -q "^memory: about" "$tmp/out" || fail "no memory estimate printed"
# AddressSanitizer reserves terabytes of address space for its shadow memory,
# so a process under `ulimit -v` cannot start at all: that check needs a build
# without it (the release stage of tools/test.sh runs it). grep reads all of
# ldd's output: with -q, an early match could kill ldd by SIGPIPE, and under
# pipefail the build would be taken for one without AddressSanitizer.
if ldd "$tl" 2>/dev/null | grep libasan >/dev/null; then
  echo "memory: the ulimit -v refusal is not checked in an AddressSanitizer build"
else
  expect_fail 1 "memory: about .* more than" bash -c "ulimit -v 4000000; exec \"$tl\" train \
    --train \"$tmp/train.txt\" --level word --embed 4096 --hidden 8192 --out \"$tmp/big.st\""
  echo "memory: $(grep -o 'memory: about.*' "$tmp/err" | head -1)"
fi
# The estimate counts what the model holds: a tied table once (new and resumed
# runs), a GRU's three gates, and the dropout layers' buffers (y, dx and the
# mask per token: 3 widths; locked: 2, its mask is per row).
mem_of() {  # train options: prints "PARAM_MB PARAMS ACTIVATION_MB" of the run
  "$tl" train "$@" --optim sgd --max-steps 1 >"$tmp/out" 2>&1 || fail "train $*: $(cat "$tmp/out")"
  local m p
  m=$(sed -n 's/^memory: .*optimizer state \([0-9.]*\) MB, batch activations and data \([0-9.]*\) MB.*/\1 \2/p' "$tmp/out")
  p=$(sed -n 's/^model: \([0-9]*\) parameters.*/\1/p' "$tmp/out")
  [ -n "$m" ] && [ -n "$p" ] || fail "train $*: no memory or model line: $(cat "$tmp/out")"
  set -- $m
  echo "$1 $p $2"
}
seq 1 20000 | sed 's/^/w/' | paste -d' ' - - - - - >"$tmp/words.txt"
words=(--train "$tmp/words.txt" --level word --embed 128 --hidden 128 --batch 2 --time 4 --quiet)
read -r base_mb base_n _ <<<"$(mem_of "${words[@]}" --out "$tmp/m0.st")"
# Values and gradients (SGD: no state), 4 or 8 bytes each: per parameter 8e-6
# or 16e-6 MB; the printed MB have one decimal (0.1% of these sizes).
real=$(awk -v m="$base_mb" -v n="$base_n" 'BEGIN { r = m * 1e6 / n / 2
  if (r > 3.99 && r < 4.01) print 4; else if (r > 7.98 && r < 8.02) print 8 }')
[ -n "$real" ] || fail "memory: $base_mb MB for $base_n parameters is not 2 x 4 or 2 x 8 bytes each"
for case in "tie:--tie" "gru:--cell gru" "tie-resumed:--tie --resume $tmp/m-tie.st"; do
  name=${case%%:*}
  # shellcheck disable=SC2086 # the options are words
  read -r mb n _ <<<"$(mem_of "${words[@]}" ${case#*:} --out "$tmp/m-$name.st")"
  awk -v m="$mb" -v n="$n" -v r="$real" 'BEGIN { d = m * 1e6 / (2 * r * n) - 1; exit !(d < 0.002 && d > -0.002) }' ||
    fail "memory ($name): $mb MB estimated for the parameters, the model has $n ($real bytes each)"
done
for line in $(seq 5000); do echo "a b c d"; done >"$tmp/abcd.txt"
wide=(--train "$tmp/abcd.txt" --level word --embed 512 --hidden 512 --layers 2 --batch 16 --time 64
      --quiet --out "$tmp/m2.st")
read -r _ _ act0 <<<"$(mem_of "${wide[@]}")"
for kind in standard:3 locked:2; do
  read -r _ _ act <<<"$(mem_of "${wide[@]}" --dropout 0.5 --dropout-kind "${kind%:*}")"
  # Three dropout layers of width 512 over 16 x 64 tokens.
  awk -v a="$act" -v b="$act0" -v k="${kind#*:}" -v r="$real" \
    'BEGIN { want = 3 * k * 512 * 16 * 64 * r / 1e6; d = a - b - want; exit !(d < 0.15 && d > -0.15) }' ||
    fail "memory (dropout ${kind%:*}): activations $act MB, without dropout $act0 MB"
done
echo "memory: the estimate counts a tied table once (new and resumed), the GRU, dropout ($act0 -> $act MB locked)"

# The cgroup's limit, from fake /proc and /sys trees (TIMELAYERS_TEST_SYSROOT,
# the test hook of tools/cli/memory.c): the process's cgroup and every
# ancestor count (v2 memory.max, v1 memory.limit_in_bytes); "max", v1's
# "unlimited" and malformed or unreadable files are no limit; MemAvailable.
fake_sys() {  # NAME CGROUP-LINES: a tree with /proc/self/cgroup holding the lines
  local r="$tmp/sys-$1"
  mkdir -p "$r/proc/self" "$r/sys/fs/cgroup/memory"
  printf '%b' "$2" >"$r/proc/self/cgroup"
  echo "$r"
}
put() { mkdir -p "$(dirname "$1")"; printf '%b' "$2" >"$1"; }
limit_of() {  # ROOT: the limit the memory line of a small run reports
  TIMELAYERS_TEST_SYSROOT="$1" "$tl" train "${small[@]}" --max-steps 1 --out "$tmp/mem.st" |
    sed -n 's/^memory: about .*; //p'
}
expect_limit() {  # ROOT WANT
  local got; got=$(limit_of "$1")
  [ "$got" = "$2" ] || fail "memory limit of $1: '$got', expected '$2'"
}
v2=$(fake_sys v2 '0::/user.slice/job.scope\n')
cg=$v2/sys/fs/cgroup
put "$cg/user.slice/job.scope/memory.max" 'max\n'
put "$cg/user.slice/memory.max" '1000000000\n'
put "$cg/memory.max" '3000000000\n'
expect_limit "$v2" "limit 1000.0 MB, the cgroup's memory limit"
put "$cg/user.slice/job.scope/memory.max" '750000000\n'
expect_limit "$v2" "limit 750.0 MB, the cgroup's memory limit"
# The refusal, with both numbers (a 7.4 GB model, as under ulimit -v below).
expect_fail 1 "memory: about 7[0-9][0-9][0-9] MB needed, more than the 750 MB the cgroup's memory limit allows" \
  env TIMELAYERS_TEST_SYSROOT="$v2" "$tl" train --train "$tmp/train.txt" --level word \
  --embed 4096 --hidden 8192 --out "$tmp/big.st"
[ ! -e "$tmp/big.st" ] || fail "a refused run wrote its checkpoint"
put "$cg/user.slice/job.scope/memory.max" '12abc\n'         # malformed: ignored, not 12 bytes
put "$cg/user.slice/memory.max" '1000000000 extra\n'
put "$cg/memory.max" '-1\n'
expect_limit "$v2" "no limit found"
put "$cg/user.slice/job.scope/memory.max" ''                # empty
rm "$cg/user.slice/memory.max"; mkdir "$cg/user.slice/memory.max"   # unreadable
put "$cg/memory.max" '2000000000\n'
expect_limit "$v2" "limit 2000.0 MB, the cgroup's memory limit"
# v1 (a hybrid machine: the v2 hierarchy has no memory controller); the
# process's cgroup missing from the mount (a container's view) leaves its root.
v1=$(fake_sys v1 '4:memory:/process_api/abc\n1:cpu,cpuacct:/process_api/abc\n0::/\n')
cg=$v1/sys/fs/cgroup/memory
put "$cg/memory.limit_in_bytes" '9223372036854771712\n'
put "$cg/process_api/abc/memory.limit_in_bytes" '9223372036854771712\n'
expect_limit "$v1" "no limit found"
put "$cg/process_api/memory.limit_in_bytes" '1500000000\n'
expect_limit "$v1" "limit 1500.0 MB, the cgroup's memory limit"
v1c=$(fake_sys v1c '7:cpuset,memory:/docker/0123\n')
put "$v1c/sys/fs/cgroup/memory/memory.limit_in_bytes" '536870912\n'
expect_limit "$v1c" "limit 536.9 MB, the cgroup's memory limit"
# MemAvailable when it is the smallest, and no /proc/self/cgroup at all.
put "$v1c/proc/meminfo" 'MemTotal:        4000000 kB\nMemAvailable:     200000 kB\n'
expect_limit "$v1c" "limit 204.8 MB, the available memory (MemAvailable)"
rm "$v1c/proc/self/cgroup" "$v1c/proc/meminfo"
expect_limit "$v1c" "limit 536.9 MB, the cgroup's memory limit"
echo "memory: cgroup v1/v2 limits and MemAvailable read from fake trees; refused: $(grep -o 'about.*allows' "$tmp/err")"

# ---- a checkpoint edited by hand: metadata rewritten, the header re-encoded ----
set_meta() {  # FILE KEY VALUE: set one metadata string (VALUE - to delete the key)
  python3 - "$@" <<'PY'
import json, struct, sys
path, key, value = sys.argv[1:4]
b = open(path, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
if value == "-": h["__metadata__"].pop(key, None)
else: h["__metadata__"][key] = value
text = json.dumps(h).encode()
text += b" " * (-len(text) % 8)
open(path, "wb").write(struct.pack("<Q", len(text)) + text + b[8 + n:])
PY
}
scale_tensor() {  # FILE NAME FACTOR
  python3 - "$@" <<'PY'
import json, struct, sys
path, name, f = sys.argv[1], sys.argv[2], float(sys.argv[3])
b = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
lo, hi = json.loads(b[8:8 + n])[name]["data_offsets"]
for o in range(8 + n + lo, 8 + n + hi, 4):
  b[o:o + 4] = struct.pack("<f", struct.unpack("<f", b[o:o + 4])[0] * f)
open(path, "wb").write(b)
PY
}
cp "$tmp/ok.st" "$tmp/v5.st"
set_meta "$tmp/v5.st" vocab '["a","b","c","d","e"]'
expect_fail 1 "vocabulary has 5 tokens" "$tl" eval "$tmp/v5.st" "$tmp/valid.txt" --mode stream
expect_fail 1 "vocabulary has 5 tokens" "$tl" info "$tmp/v5.st"
cp "$tmp/ok.st" "$tmp/dup.st"
train=$("$tl" info "$tmp/ok.st" | sed -n 's/^train: //p')
set_meta "$tmp/dup.st" train "{\"epoch\": 7, ${train#\{}"
expect_fail 1 "\"epoch\" appears twice" "$tl" train "${small[@]}" --resume "$tmp/dup.st"
cp "$tmp/ok.st" "$tmp/rng.st"
set_meta "$tmp/rng.st" train "$(echo "$train" | sed 's/"rng":\["[0-9a-f]*"/"rng":[" -1"/')"
expect_fail 1 "rng\[0\] is not 16 hex digits" "$tl" train "${small[@]}" --resume "$tmp/rng.st"
cp "$tmp/ok.st" "$tmp/nul.st"
set_meta "$tmp/nul.st" vocab "$("$tl" info "$tmp/ok.st" >/dev/null; python3 -c '
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
v = json.loads(json.loads(b[8:8 + n])["__metadata__"]["vocab"]); v[0] = "a\u0000b"
print(json.dumps(v))' "$tmp/ok.st")"
expect_fail 1 "NUL" "$tl" info "$tmp/nul.st"
cp "$tmp/ok.st" "$tmp/esc.st"
set_meta "$tmp/esc.st" note $'\e[31mred\e[0m'
"$tl" info "$tmp/esc.st" >"$tmp/info"
grep -q 'note: \\x1b\[31mred' "$tmp/info" || fail "info did not escape: $(grep note "$tmp/info")"
grep -q $'\e' "$tmp/info" && fail "info printed an escape character"
echo "hand-edited metadata: refused or escaped"

# ---- output errors and infinite perplexity are failures -----------------------
expect_fail 1 "writing the output failed" sh -c "exec \"$tl\" sample \"$tmp/ok.st\" >/dev/full"
expect_fail 1 "writing the output failed" sh -c "exec \"$tl\" info \"$tmp/ok.st\" >/dev/full"
cp "$tmp/ok.st" "$tmp/inf.st"
scale_tensor "$tmp/inf.st" layers.2.W 1e30
expect_fail 1 "perplexity overflows" "$tl" eval "$tmp/inf.st" "$tmp/valid.txt" --mode stream
echo "stdout errors and infinite perplexity: exit 1"

# ---- --resume keeps the run it resumes ----------------------------------------
"$tl" train --train "$tmp/train.txt" --embed 8 --hidden 16 --batch 3 --time 5 --quiet \
  --max-steps 2 --out "$tmp/bt.st" >/dev/null
"$tl" train --train "$tmp/train.txt" --resume "$tmp/bt.st" --max-steps 4 --quiet >"$tmp/out" ||
  fail "resume without --batch/--time"
grep -q "batch 3 x time 5" "$tmp/out" || fail "resume did not take batch and time: $(cat "$tmp/out")"
expect_fail 2 "--hidden 32 .* 16" "$tl" train "${small[@]}" --resume "$tmp/ok.st" --hidden 32
expect_fail 2 "--level word .* char" "$tl" train "${small[@]}" --resume "$tmp/ok.st" --level word
expect_fail 2 "--cell rnn .* lstm" "$tl" train "${small[@]}" --resume "$tmp/ok.st" --cell rnn
expect_fail 2 "--optim sgd .* adam" "$tl" train "${small[@]}" --resume "$tmp/ok.st" --optim sgd
sed 's/cat/dog/' "$tmp/train.txt" >"$tmp/other.txt"
expect_fail 1 "not the training data" "$tl" train --train "$tmp/other.txt" --embed 8 \
  --hidden 16 --batch 2 --time 8 --resume "$tmp/ok.st" --out "$tmp/o2.st"
"$tl" train "${small[@]}" --resume "$tmp/ok.st" --hidden 16 --max-steps 3 --out "$tmp/o3.st" \
  >/dev/null || fail "resume with the same flags"
echo "--resume: batch and time taken, other models and data refused"

# ---- messages -------------------------------------------------------------------
expect_fail 1 "missing.st: cannot open" "$tl" info "$tmp/missing.st"
[ "$(grep -o "missing.st" "$tmp/err" | wc -l)" = 1 ] || fail "the path is printed twice: $(cat "$tmp/err")"
head -2 "$tmp/valid.txt" >"$tmp/short.txt"
expect_fail 1 "use --mode stream" "$tl" eval "$tmp/ok.st" "$tmp/short.txt"
expect_fail 1 "not a safetensors file" "$tl" info "$tmp/train.txt"
grep -q "truncated" "$tmp/err" && fail "a text file called truncated: $(cat "$tmp/err")"
echo "messages: checked"
echo "reliability_cli: all checks passed"
