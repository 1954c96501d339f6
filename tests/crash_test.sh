#!/usr/bin/env bash
# Crash safety of checkpoints: a training run that writes its checkpoint after
# every step is killed with SIGKILL at a random moment, KILLS times (default
# 25). Most of its time goes into saving (a 10 MB checkpoint, written and
# fsynced), so most kills land in the middle of a save. After every kill the
# checkpoint on disk must be complete and loadable (`timelayers info` reads
# and validates the whole file), and its step must not go backwards: it is the
# old file or the new one, never a mixture. Each run resumes from the file the
# previous one left. Temporaries of killed saves ("<out>.tmp-XXXXXX") are left
# alone by the library (docs/reliability.md); the test counts them. Finally a
# run that is not killed resumes and finishes normally.
# Usage: tests/crash_test.sh BUILD_DIR [KILLS]
set -euo pipefail
tl="$1/tools/timelayers"
kills=${2:-25}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for i in $(seq 300); do
  echo "the quick brown fox $i jumps over the lazy dog and runs away"
done >"$tmp/train.txt"
ck="$tmp/model.safetensors"
args=(--train "$tmp/train.txt" --hidden 256 --layers 2 --batch 2 --time 4 --save-every 1
      --max-steps 1000000 --quiet --out "$ck")

# The training step stored in the checkpoint, or fail when it does not load.
step_of() {
  "$tl" info "$ck" >"$tmp/info" 2>&1 || fail "after kill $1: the checkpoint does not load: $(cat "$tmp/info")"
  sed -n 's/^train: .*"step":\([0-9]*\).*/\1/p' "$tmp/info"
}

last=-1 saved=0
for k in $(seq "$kills"); do
  resume=()
  [ -e "$ck" ] && resume=(--resume "$ck")
  before=$(stat -c %i.%.9Y "$ck" 2>/dev/null || echo none)
  "$tl" train "${args[@]}" "${resume[@]}" >/dev/null 2>&1 &
  pid=$!
  # Start-up time varies with the machine's load (and ASan): wait until this
  # run has replaced the checkpoint at least once (at most 120 s), then kill
  # it at a random moment of the following saves.
  for _ in $(seq 1200); do
    [ "$(stat -c %i.%.9Y "$ck" 2>/dev/null || echo none)" != "$before" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  sleep "0.$(printf %03d $((RANDOM % 600)))"
  kill -KILL "$pid" 2>/dev/null || fail "kill $k: the run ended by itself"
  wait "$pid" 2>/dev/null || true
  [ -e "$ck" ] || { [ "$last" = -1 ] && continue; fail "kill $k: the checkpoint is gone"; }
  step=$(step_of "$k")
  [ -n "$step" ] || fail "kill $k: no step in the checkpoint"
  [ "$step" -ge "$last" ] || fail "kill $k: the checkpoint went back from step $last to $step"
  [ "$step" -gt "$last" ] && saved=$((saved + 1))
  last=$step
done
strays=$(find "$tmp" -name 'model.safetensors.tmp-*' | wc -l)
echo "crash: $kills kills, checkpoint loadable after each, step $last reached," \
     "$strays killed saves left a temporary"
[ "$saved" -ge $((kills / 2)) ] || fail "only $saved runs got a checkpoint written"

"$tl" train "${args[@]}" --resume "$ck" --max-steps $((last + 3)) >/dev/null ||
  fail "a clean run after the kills"
[ "$(step_of final)" = $((last + 3)) ] || fail "the clean run did not reach step $((last + 3))"
echo "crash: a clean resume after the kills reached step $((last + 3))"
