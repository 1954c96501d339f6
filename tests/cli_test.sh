#!/usr/bin/env bash
# End-to-end checks of the timelayers CLI: train, info, sample, eval, resume,
# gradcheck, and refusals of bad input with a non-zero exit and a message.
# Usage: tests/cli_test.sh BUILD_DIR
set -euo pipefail
tl="$1/tools/timelayers"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_fail CODE PATTERN CMD...: the command exits with CODE and stderr matches PATTERN.
expect_fail() {
  local code=$1 pattern=$2; shift 2
  local rc=0
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" = "$code" ] || fail "$* exited $rc, expected $code"
  grep -q -- "$pattern" "$tmp/err" || fail "$*: stderr lacks '$pattern': $(cat "$tmp/err")"
}

# A small text with structure.
for i in $(seq 40); do
  echo "the cat sat on the mat and the dog sat on the log"
  echo "a cat and a dog saw the mat and the log"
done >"$tmp/train.txt"
head -20 "$tmp/train.txt" >"$tmp/valid.txt"

"$tl" --help | grep -q "Commands:" || fail "--help"
# (Through a file: grep -q would close the pipe after its match and the help,
# longer than a stdio buffer, would die of SIGPIPE under pipefail.)
"$tl" train --help >"$tmp/help"
grep -q -- "--max-steps" "$tmp/help" || fail "train --help"

# Word level: perplexity must fall well below the ~16-word uniform level.
"$tl" train --train "$tmp/train.txt" --valid "$tmp/valid.txt" --level word --embed 16 \
  --hidden 32 --batch 4 --time 8 --epochs 8 --optim adam --lr 0.01 --report 10 \
  --out "$tmp/w.safetensors" --log "$tmp/log.csv" >"$tmp/train.out"
ppl=$(grep "done" "$tmp/train.out" | tail -1 | sed 's/.*valid ppl \([0-9.]*\).*/\1/')
echo "word level: final validation perplexity $ppl (bound 3)"
awk -v p="$ppl" 'BEGIN { exit !(p < 3) }' || fail "validation perplexity $ppl >= 3"
head -1 "$tmp/log.csv" | grep -q "^epoch,step" || fail "CSV log header"

"$tl" info "$tmp/w.safetensors" --tensors >"$tmp/info"
grep -q "TimeLSTM" "$tmp/info" && grep -q "word level" "$tmp/info" &&
  grep -q "layers.1.Wx" "$tmp/info" || fail "info"
"$tl" sample "$tmp/w.safetensors" --prompt "the cat" --length 20 --seed 3 >"$tmp/s1"
"$tl" sample "$tmp/w.safetensors" --prompt "the cat" --length 20 --seed 3 >"$tmp/s2"
cmp -s "$tmp/s1" "$tmp/s2" || fail "sampling with a fixed seed is not reproducible"
grep -q "^the cat" "$tmp/s1" || fail "sample does not start with the prompt"
"$tl" sample "$tmp/w.safetensors" --greedy --length 5 --skip '<eos>' >/dev/null
"$tl" eval "$tmp/w.safetensors" "$tmp/valid.txt" --mode stream | grep -q "perplexity" ||
  fail "eval"

# A GRU learns the same text; its checkpoint names the layer and its bhn.
"$tl" train --train "$tmp/train.txt" --valid "$tmp/valid.txt" --level word --cell gru --embed 16 \
  --hidden 32 --batch 4 --time 8 --epochs 8 --optim adam --lr 0.01 --quiet \
  --out "$tmp/g.safetensors" >"$tmp/gru.out"
ppl=$("$tl" eval "$tmp/g.safetensors" "$tmp/valid.txt" --mode stream |
      sed -n 's/.*perplexity \([0-9.]*\).*/\1/p')
echo "word level GRU: validation perplexity $ppl (bound 3)"
awk -v p="$ppl" 'BEGIN { exit !(p < 3) }' || fail "GRU validation perplexity $ppl >= 3"
"$tl" info "$tmp/g.safetensors" --tensors >"$tmp/info"
grep -q "TimeGRU" "$tmp/info" && grep -q "layers.1.bhn" "$tmp/info" || fail "info (GRU)"
"$tl" sample "$tmp/g.safetensors" --prompt "the cat" --length 5 --seed 3 | grep -q "^the cat" ||
  fail "sample (GRU)"
# bf16 weights: reproducible, the prompt first, every token from the vocabulary.
"$tl" sample "$tmp/g.safetensors" --prompt "the cat" --length 30 --seed 3 --bf16 >"$tmp/b1"
"$tl" sample "$tmp/g.safetensors" --prompt "the cat" --length 30 --seed 3 --bf16 >"$tmp/b2"
cmp -s "$tmp/b1" "$tmp/b2" && grep -q "^the cat" "$tmp/b1" || fail "sample --bf16"
tr ' ' '\n' <"$tmp/b1" | grep -v '^$' | grep -vxq -e the -e cat -e sat -e on -e mat -e and \
  -e dog -e log -e a -e saw -e '<eos>' && fail "sample --bf16: a token not in the vocabulary"
# Recurrent dropout in a GRU: trains, and the checkpoint keeps the rate.
"$tl" train --train "$tmp/train.txt" --level word --cell gru --embed 8 --hidden 8 --batch 4 \
  --time 8 --max-steps 3 --rec-dropout 0.25 --quiet --out "$tmp/gd.safetensors" >/dev/null
"$tl" info "$tmp/gd.safetensors" | grep -q "rec_dropout.*0.25" || fail "info (GRU rec_dropout)"

# Resume: 30 steps, then on to the end of 2 epochs, equals 2 epochs straight.
args=(--train "$tmp/train.txt" --level char --embed 8 --hidden 16 --batch 4 --time 16
      --epochs 2 --report 1 --quiet)
"$tl" train "${args[@]}" --out "$tmp/a.safetensors" --log "$tmp/a.csv" >/dev/null
"$tl" train "${args[@]}" --max-steps 30 --out "$tmp/b.safetensors" --log "$tmp/b.csv" >/dev/null
"$tl" train "${args[@]}" --resume "$tmp/b.safetensors" --out "$tmp/b.safetensors" \
  --log "$tmp/b.csv" >/dev/null
cut -d, -f1-4 "$tmp/a.csv" >"$tmp/a.cut"
cut -d, -f1-4 "$tmp/b.csv" >"$tmp/b.cut"
cmp -s "$tmp/a.cut" "$tmp/b.cut" || fail "resumed run differs: $(diff "$tmp/a.cut" "$tmp/b.cut" | head -5)"
echo "resume: $(wc -l <"$tmp/a.cut") log lines identical"

# The same with dropout of both kinds, recurrent dropout and tying, validation
# every 9 steps: the masks (keyed by the seed and step the checkpoint holds)
# repeat exactly; and they are on (the losses are not the plain run's).
for kind in standard locked; do
  dargs=("${args[@]}" --embed 16 --layers 2 --dropout 0.3 --dropout-kind $kind --rec-dropout 0.2
         --tie --seed 5 --valid "$tmp/valid.txt" --eval-every 9)
  "$tl" train "${dargs[@]}" --out "$tmp/e.safetensors" --log "$tmp/e.csv" >/dev/null
  "$tl" train "${dargs[@]}" --max-steps 23 --out "$tmp/f.safetensors" --log "$tmp/f.csv" >/dev/null
  "$tl" train "${dargs[@]}" --resume "$tmp/f.safetensors" --out "$tmp/f.safetensors" \
    --log "$tmp/f.csv" >/dev/null
  cut -d, -f1-5 "$tmp/e.csv" >"$tmp/e.cut"
  cut -d, -f1-5 "$tmp/f.csv" >"$tmp/f.cut"
  cmp -s "$tmp/e.cut" "$tmp/f.cut" ||
    fail "resumed $kind dropout run differs: $(diff "$tmp/e.cut" "$tmp/f.cut" | head -5)"
  "$tl" train "${dargs[@]}" --dropout 0 --rec-dropout 0 --out "$tmp/g.safetensors" \
    --log "$tmp/g.csv" >/dev/null
  [ "$(cut -d, -f4 "$tmp/e.csv" | sed -n 2p)" != "$(cut -d, -f4 "$tmp/g.csv" | sed -n 2p)" ] ||
    fail "$kind dropout changes nothing"
  echo "resume with $kind dropout: $(wc -l <"$tmp/e.cut") log lines identical"
done
# Options that would change the resumed model are refused, not ignored.
expect_fail 2 "differs from the checkpoint's 0.3" "$tl" train --resume "$tmp/f.safetensors" \
  --dropout 0.5
expect_fail 2 "differs from the checkpoint's 0.2" "$tl" train --resume "$tmp/f.safetensors" \
  --rec-dropout 0
expect_fail 2 "differs from the checkpoint's locked" "$tl" train --resume "$tmp/f.safetensors" \
  --dropout-kind standard
expect_fail 2 "not tied" "$tl" train --resume "$tmp/b.safetensors" --tie

# Schedules, initialisation, validation every N steps and the best checkpoint:
# a run stopped mid-way and resumed (without repeating --lr-schedule: the
# checkpoint's applies) repeats the straight run, rates included.
sargs=("${args[@]}" --valid "$tmp/valid.txt" --optim sgd --lr 0.5 --epochs 3)
"$tl" train "${sargs[@]}" --lr-schedule step:1:0.5 --init uniform:0.08 --forget-bias 1 \
  --eval-every 7 --keep-best "$tmp/best.safetensors" --out "$tmp/c.safetensors" \
  --log "$tmp/c.csv" >/dev/null
"$tl" train "${sargs[@]}" --lr-schedule step:1:0.5 --init uniform:0.08 --forget-bias 1 \
  --eval-every 7 --max-steps 40 --out "$tmp/d.safetensors" --log "$tmp/d.csv" >/dev/null
"$tl" train "${sargs[@]}" --init uniform:0.08 --forget-bias 1 --eval-every 7 --resume "$tmp/d.safetensors" \
  --out "$tmp/d.safetensors" --log "$tmp/d.csv" >/dev/null
cut -d, -f1-6 "$tmp/c.csv" >"$tmp/c.cut"
cut -d, -f1-6 "$tmp/d.csv" >"$tmp/d.cut"
cmp -s "$tmp/c.cut" "$tmp/d.cut" || fail "resumed scheduled run differs: $(diff "$tmp/c.cut" "$tmp/d.cut" | head -5)"
awk -F, 'NR > 1 && $4 != "nan" { print $6 }' "$tmp/c.csv" | sort -u | tr '\n' ' ' >"$tmp/rates"
[ "$(cat "$tmp/rates")" = "0.125 0.25 0.5 " ] || fail "step schedule rates: $(cat "$tmp/rates")"
[ "$(awk -F, 'NR > 1 && $5 != "nan"' "$tmp/c.csv" | wc -l)" -gt 3 ] || fail "--eval-every"
"$tl" info "$tmp/c.safetensors" >"$tmp/info"
grep -q "^init: uniform:0.08,forget_bias=1$" "$tmp/info" || fail "info lacks init: $(cat "$tmp/info")"
grep -q "^lr_schedule: step:1:0.5$" "$tmp/info" || fail "info lacks lr_schedule"
"$tl" info "$tmp/d.safetensors" | grep -q "^init: uniform:0.08,forget_bias=1$" ||
  fail "a resumed run lost the init metadata"
[ -f "$tmp/best.safetensors" ] || fail "--keep-best wrote nothing"
best=$(awk -F, 'NR > 1 && $5 != "nan" { print $5 }' "$tmp/c.csv" | sort -g | head -1)
held=$("$tl" info "$tmp/best.safetensors" | sed -n 's/.*"best_ppl":\([0-9.e+-]*\).*/\1/p')
awk -v a="$held" -v b="$best" 'BEGIN { d = a - b; exit !(d * d < 1e-10 * b * b) }' ||
  fail "best checkpoint holds perplexity $held, the log's best is $best"
ls "$tmp" | grep -q "\.tmp" && fail "temporary files left behind: $(ls "$tmp")"
expect_fail 2 "uniform:A" "$tl" train --init uniform
expect_fail 2 "step:E:F" "$tl" train --lr-schedule step:4
expect_fail 2 "give one" "$tl" train --lr-schedule step:4:0.5 --lr-decay 4
expect_fail 2 "needs --cell rnn" "$tl" train --activation sigmoid
expect_fail 2 "cell gru has none" "$tl" train --cell gru --forget-bias 1
expect_fail 2 "lstm and gru, not rnn" "$tl" train --cell rnn --rec-dropout 0.2
expect_fail 2 "cell rnn has none" "$tl" train --init pytorch,forget_bias=1 --cell rnn
expect_fail 2 "another file" "$tl" train --keep-best x.safetensors --out x.safetensors
expect_fail 2 "pytorch differs from the checkpoint's uniform:0.08,forget_bias=1" \
  "$tl" train --resume "$tmp/d.safetensors" --init pytorch
expect_fail 2 "forget_bias=2 differs" "$tl" train --resume "$tmp/d.safetensors" \
  --init uniform:0.08 --forget-bias 2
"$tl" train --train "$tmp/train.txt" --level word --cell rnn --activation sigmoid \
  --loss-norm cs231n --embed 8 --hidden 8 --batch 4 --time 8 --max-steps 3 --quiet \
  --out "$tmp/sig.safetensors" >/dev/null
"$tl" info "$tmp/sig.safetensors" >"$tmp/info"
grep -q "TimeRNN" "$tmp/info" || fail "sigmoid RNN"

# AdaGrad with the char-RNN seed's epsilon placement: stored and resumed.
"$tl" train "${args[@]}" --optim adagrad --lr 0.1 --eps 1e-8 --eps-inside --max-steps 5 \
  --out "$tmp/ada.safetensors" >/dev/null
"$tl" info "$tmp/ada.safetensors" | grep -q '"eps":1e-08,"eps_inside":true' ||
  fail "adagrad eps placement not stored: $("$tl" info "$tmp/ada.safetensors" | grep optim)"
"$tl" train "${args[@]}" --max-steps 8 --resume "$tmp/ada.safetensors" \
  --out "$tmp/ada.safetensors" >/dev/null
"$tl" info "$tmp/ada.safetensors" | grep -q '"eps_inside":true' || fail "eps_inside lost on resume"
expect_fail 2 "adagrad" "$tl" train --optim adam --eps-inside

"$1/tools/timelayers-gradcheck" --layers 2 >"$tmp/gc" || fail "gradcheck: $(cat "$tmp/gc")"
"$tl" gradcheck --cell rnn | grep -q passed || fail "timelayers gradcheck"
"$tl" gradcheck --cell gru | grep -q passed || fail "timelayers gradcheck --cell gru"
# With dropout (fixed masks: training-mode loss differs from evaluation mode's)
# and tying (one W, the embedding's, and its gradient is checked); without
# dropout the two losses are the same. Impossible bounds make the check fail.
losses() { sed -n 's/.*loss \([0-9.]*\) (training.*, \([0-9.]*\) (evaluation.*/\1 \2/p' "$1"; }
for kind in standard locked; do
  "$tl" gradcheck --dropout 0.3 --dropout-kind $kind --rec-dropout 0.2 --tie >"$tmp/gc" ||
    fail "gradcheck with $kind dropout and tying: $(cat "$tmp/gc")"
  grep -q "passed" "$tmp/gc" && grep -q "layers.0.W .* ok" "$tmp/gc" || fail "gradcheck: $(cat "$tmp/gc")"
  [ "$(grep -c '\.W ' "$tmp/gc")" = 1 ] || fail "a tied gradcheck has more than one W: $(cat "$tmp/gc")"
  losses "$tmp/gc" | awk 'NF == 2 && $1 != $2 { on = 1 } END { exit !on }' || fail "gradcheck: $kind dropout is off: $(cat "$tmp/gc")"
  echo "gradcheck, $kind dropout, tied: $(tail -1 "$tmp/gc")"
done
"$tl" gradcheck --cell gru --dropout 0.4 --tie | grep -q passed || fail "gradcheck --cell gru --tie"
"$tl" gradcheck >"$tmp/gc"
losses "$tmp/gc" | awk 'NF == 2 { exit !($1 == $2) } END { exit NR != 1 }' ||
  fail "gradcheck without dropout: the two losses differ: $(cat "$tmp/gc")"
rc=0
"$tl" gradcheck --dropout 0.3 --bound 1e-30 --abs-bound 1e-30 >"$tmp/gc" || rc=$?
[ "$rc" = 1 ] && grep -q FAILED "$tmp/gc" || fail "gradcheck with impossible bounds exited $rc"
expect_fail 2 "dropout kind 'x'" "$tl" gradcheck --dropout-kind x
expect_fail 1 "layer 0 (TimeEmbedding, D=4)" "$tl" gradcheck --tie --embed 4
"$tl" gradcheck --cell gru --rec-dropout 0.2 >"$tmp/gc" || fail "gradcheck, GRU rec_dropout: $(cat "$tmp/gc")"
losses "$tmp/gc" | awk 'NF == 2 && $1 != $2 { on = 1 } END { exit !on }' ||
  fail "gradcheck: the GRU's recurrent dropout is off: $(cat "$tmp/gc")"
echo "gradcheck, GRU rec_dropout 0.2: $(tail -1 "$tmp/gc")"
expect_fail 1 "an option of the LSTM and GRU cells" "$tl" gradcheck --cell rnn --rec-dropout 0.2

# bench: only its options here (a benchmark run takes too long for a test);
# not built with -Dbenchmarks=disabled.
if [ -x "$1/tools/timelayers-bench" ]; then
  "$tl" bench --help | grep -q -- "--config" || fail "bench --help"
  expect_fail 2 "unknown configuration" "$tl" bench --config A,X
  expect_fail 2 "threads" "$tl" bench --threads 0
fi
# --threads is 1-64 wherever --help says so.
expect_fail 2 "threads: 65 is outside \[1, 64\]" "$tl" train --threads 65
expect_fail 2 "threads: 0 is outside \[1, 64\]" "$tl" eval --threads 0 a.st b.txt

# Bad input: clear message, non-zero exit, no crash.
expect_fail 2 "unknown command" "$tl" frobnicate
expect_fail 2 "batch" "$tl" train --batch 0
expect_fail 2 "not an integer" "$tl" train --epochs 3x
expect_fail 2 "expected lstm, rnn or gru" "$tl" train --cell lstm2
expect_fail 2 "greater than 1" "$tl" train --lr-decay 1
expect_fail 1 "No such file" "$tl" train --train "$tmp/missing.txt"
expect_fail 1 "too short" "$tl" train --train "$tmp/valid.txt" --batch 64 --time 64 --level word
printf 'not a checkpoint at all' >"$tmp/bad.safetensors"
expect_fail 1 "bad.safetensors" "$tl" info "$tmp/bad.safetensors"
head -c 300 "$tmp/w.safetensors" >"$tmp/trunc.safetensors"
expect_fail 1 "trunc.safetensors" "$tl" sample "$tmp/trunc.safetensors"
echo "the zebra sat" >"$tmp/unknown.txt"
expect_fail 1 "zebra" "$tl" eval "$tmp/w.safetensors" "$tmp/unknown.txt"
expect_fail 2 "prompt\|expected" "$tl" sample
expect_fail 1 "missing.txt" "$tl" train --resume "$tmp/w.safetensors" --train "$tmp/missing.txt"
expect_fail 1 "need at least 2" "$tl" train --train "$tmp/valid.txt" --valid-split 0.001 \
  --batch 2 --time 4
"$tl" train "${args[@]}" --resume "$tmp/a.safetensors" --out "$tmp/none.safetensors" |
  grep -q "no checkpoint written" || fail "resuming a finished run"
[ ! -e "$tmp/none.safetensors" ] || fail "a finished run wrote a checkpoint"

# Resource limits: absurd sizes are refused before anything of that size is
# allocated, with a message naming the limit (docs/fuzzing.md).
expect_fail 2 "outside \[1, 65536\]" "$tl" train --hidden 1000000000
expect_fail 2 "outside \[1, 65536\]" "$tl" train --embed -5
expect_fail 2 "outside \[1, 64\]" "$tl" train --layers 99999999999999999999
expect_fail 1 "more than the limit of 1073741824 (TL_LM_MAX_PARAMS)" \
  "$tl" train --train "$tmp/train.txt" --level word --embed 16384 --hidden 16384
# A number is the whole argument: no white space, no sign on a seed.
expect_fail 2 "not a non-negative integer" "$tl" train --seed " -1"
expect_fail 2 "not a non-negative integer" "$tl" train --seed -1
expect_fail 2 "starts with white space" "$tl" train --batch " 4"
echo "cli: all checks passed"
