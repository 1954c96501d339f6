#!/usr/bin/env bash
# PyTorch interop end to end: random nn.Embedding -> nn.LSTM (or nn.GRU,
# nn.RNN) -> nn.Linear models (LSTM: 2 layers word level, 1 layer char level;
# a 2-layer word level GRU and RNN; stacks of different widths as a list of
# one-layer modules: LSTM 12 -> 6 word level, GRU 10 -> 6 char level, RNN
# 12 -> 6 -> 9 word level; a tied 2-layer word level LSTM with dropout) go
# through tools/torch_convert.py to timelayers checkpoints, whose stream
# perplexity from `timelayers eval` must match PyTorch's to 1e-4 relative,
# back to state dicts equal to the originals (biases folded into bias_ih),
# and from those again to checkpoints equal byte for byte to the first ones,
# vocabulary level included (the --vocab-out file records it). Models trained
# by timelayers of each kind and level go to PyTorch (perplexity agreement)
# and back (same evaluation, same level); a tied model with dropout too. A
# sigmoid TimeRNN is refused. Skips (exit 77) without python3-torch.
# Usage: tests/torch_interop.sh BUILD_DIR
set -euo pipefail
py=/usr/bin/python3
if ! "$py" -c "import torch" 2>/dev/null; then
  echo "SKIP: $py cannot import torch (install python3-torch: tools/install-deps.sh --with-torch)"
  exit 77
fi
tl="$1/tools/timelayers"
here=$(cd "$(dirname "$0")" && pwd)
convert="$here/../tools/torch_convert.py"
helper="$here/torch_interop.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_fail PATTERN CMD...: the command fails and stderr matches PATTERN.
expect_fail() {
  local pattern=$1; shift
  if "$@" >"$tmp/out" 2>"$tmp/err"; then fail "$* succeeded"; fi
  grep -q -- "$pattern" "$tmp/err" || fail "$*: stderr lacks '$pattern': $(cat "$tmp/err")"
}

"$py" "$convert" --help | grep -q "to-timelayers" || fail "--help"

# same_ppl WHAT CHECKPOINT MODEL.pt TEXT VOCAB.json LEVEL: timelayers' stream
# perplexity and PyTorch's agree. Compared through the mean loss, which eval
# prints to 5 decimals (a resolution of 5e-6 relative in the perplexity).
same_ppl() {
  local ours theirs
  ours=$("$tl" eval "$2" "$4" --mode stream | sed -n 's/.*perplexity \([0-9.]*\) (\([0-9.]*\) nats.*/\1 \2/p')
  theirs=$("$py" "$helper" ppl "$3" "$4" "$5" --level "$6")
  echo "$theirs $ours" | awk -v what="$1" '{
    r = exp($4 - $2) - 1; r = r < 0 ? -r : r
    printf "%s: perplexity PyTorch %.6f, timelayers %s; relative difference %.2g (bound 1e-4)\n",
           what, $1, $3, r
    exit !(NF == 4 && r < 1e-4) }' || fail "$1: perplexities differ"
}

# check LEVEL LAYERS [CELL]: convert a random model, compare perplexities, convert
# back and forth. LAYERS is a count (one module of num_layers LAYERS) or a list
# of widths such as 12,6 (an nn.ModuleList of one-layer modules).
check() {
  local level=$1 layers=$2 cell=${3:-lstm} d="$tmp/$1$2${3:-}" shape
  local kind=TimeLSTM n=$2
  [ "$cell" = gru ] && kind=TimeGRU
  [ "$cell" = rnn ] && kind=TimeRNN
  shape=(--layers "$layers" --seed "$layers")
  case $layers in *,*) n=$(echo "$layers" | tr ',' '\n' | wc -l)
                       shape=(--widths "$layers" --seed "$n");; esac
  mkdir "$d"
  "$py" "$helper" make "$d/text.txt" "$d/model.pt" --level "$level" "${shape[@]}" --cell "$cell"
  "$py" "$convert" to-timelayers "$d/model.pt" "$d/model.safetensors" --vocab-from "$d/text.txt" \
    --level "$level"
  "$tl" info "$d/model.safetensors" >"$d/info"
  [ "$(grep -c "$kind" "$d/info")" = "$n" ] && grep -q "$level level" "$d/info" ||
    fail "info: $(cat "$d/info")"
  "$tl" sample "$d/model.safetensors" --length 10 --seed 1 >/dev/null || fail "sample"

  # The vocabulary is the one `timelayers train` builds from the same text.
  "$tl" train --train "$d/text.txt" --level "$level" --cell "$cell" --embed 4 --hidden 4 --batch 1 --time 4 \
    --max-steps 1 --quiet --out "$d/trained.safetensors" >/dev/null
  "$py" "$convert" to-torch "$d/trained.safetensors" "$d/trained.pt" --vocab-out "$d/train-vocab.json" \
    >/dev/null
  "$py" "$convert" to-torch "$d/model.safetensors" "$d/back.pt" --vocab-out "$d/vocab.json"
  cmp -s "$d/vocab.json" "$d/train-vocab.json" || fail "$level vocabulary differs from the trainer's"

  same_ppl "$cell, $level level, $layers layers" "$d/model.safetensors" "$d/model.pt" \
    "$d/text.txt" "$d/vocab.json" "$level"
  same_ppl "$cell, $level level, trained by timelayers" "$d/trained.safetensors" "$d/trained.pt" \
    "$d/text.txt" "$d/train-vocab.json" "$level"

  "$py" "$helper" compare "$d/model.pt" "$d/back.pt"
  # And again to timelayers, the level coming from the vocabulary file (no --level).
  "$py" "$convert" to-timelayers "$d/back.pt" "$d/again.safetensors" --vocab "$d/vocab.json" \
    >/dev/null
  "$py" "$helper" same-checkpoint "$d/model.safetensors" "$d/again.safetensors"
  "$py" "$convert" to-timelayers "$d/trained.pt" "$d/trained-again.safetensors" \
    --vocab "$d/train-vocab.json" >/dev/null
  [ "$("$tl" eval "$d/trained.safetensors" "$d/text.txt" --mode stream)" = \
    "$("$tl" eval "$d/trained-again.safetensors" "$d/text.txt" --mode stream)" ] &&
    "$tl" info "$d/trained-again.safetensors" | grep -q "$level level" ||
    fail "$cell, $level level: timelayers -> PyTorch -> timelayers changed the trained model"
}
check word 2
check char 1
check word 2 gru
check word 2 rnn
check word 16,6
check char 10,6 gru
check word 12,6,9 rnn

# Tying and dropout. PyTorch -> timelayers: fc.weight = embed.weight (shared
# storage in the state dict) becomes a TimeAffine using the embedding (no W of
# its own), --dropout/--rec-dropout add the weightless TimeDropout layers and
# the LSTM's rate; evaluation (dropout off) agrees; back, one shared table.
d="$tmp/tied"
mkdir "$d"
"$py" "$helper" make "$d/text.txt" "$d/model.pt" --level word --layers 2 --seed 3 --tie --dropout 0.5
"$py" "$convert" to-timelayers "$d/model.pt" "$d/model.safetensors" --vocab-from "$d/text.txt" \
  --dropout 0.5 --dropout-kind locked --rec-dropout 0.25 | grep -q "tied, dropout 0.5 (locked)" ||
  fail "to-timelayers did not see the tying"
"$tl" info "$d/model.safetensors" --tensors >"$d/info"
[ "$(grep -c "TimeDropout" "$d/info")" = 3 ] && grep -q "tied=layer 0" "$d/info" &&
  [ "$(grep -c "rec_dropout=0.25" "$d/info")" = 2 ] && [ "$(grep -c "layers\.[0-9]*\.W " "$d/info")" = 1 ] ||
  fail "tied model with dropout: $(cat "$d/info")"
"$py" "$convert" to-torch "$d/model.safetensors" "$d/back.pt" --vocab-out "$d/vocab.json" >"$d/out"
grep -q "(tied: fc.weight = embed.weight)" "$d/out" && [ "$(grep -c "left out" "$d/out")" = 4 ] ||
  fail "to-torch of a tied model with dropout: $(cat "$d/out")"
same_ppl "tied LSTM with dropout, PyTorch -> timelayers" "$d/model.safetensors" "$d/model.pt" \
  "$d/text.txt" "$d/vocab.json" word
"$py" "$helper" compare "$d/model.pt" "$d/back.pt"
# timelayers -> PyTorch: a tied model trained with both dropouts, then back to
# a checkpoint that evaluates to the same perplexity.
"$tl" train --train "$d/text.txt" --level word --embed 8 --hidden 8 --layers 2 --tie --dropout 0.3 \
  --dropout-kind locked --rec-dropout 0.2 --batch 2 --time 8 --max-steps 30 --optim adam \
  --lr 0.01 --quiet --out "$d/trained.safetensors" >/dev/null
"$py" "$convert" to-torch "$d/trained.safetensors" "$d/trained.pt" --vocab-out "$d/tvocab.json" \
  >/dev/null
same_ppl "tied LSTM with dropout trained by timelayers, timelayers -> PyTorch" \
  "$d/trained.safetensors" "$d/trained.pt" "$d/text.txt" "$d/tvocab.json" word
"$py" "$convert" to-timelayers "$d/trained.pt" "$d/again.safetensors" --vocab "$d/tvocab.json" \
  --dropout 0.3 --dropout-kind locked --rec-dropout 0.2 >/dev/null
a=$("$tl" eval "$d/trained.safetensors" "$d/text.txt" --mode stream)
b=$("$tl" eval "$d/again.safetensors" "$d/text.txt" --mode stream)
[ "$a" = "$b" ] || fail "timelayers -> PyTorch -> timelayers changed the evaluation: $a / $b"
diff <("$tl" info "$d/trained.safetensors" | grep "^  layer\|^  loss") \
     <("$tl" info "$d/again.safetensors" | grep "^  layer\|^  loss") >/dev/null ||
  fail "the round trip changed the architecture"
echo "tied model with dropout: both ways, $a"

# Other module names are detected: the same checkpoint, byte for byte.
mkdir "$tmp/renamed"
"$py" "$helper" rename "$tmp/word2/model.pt" "$tmp/renamed/model.pt"
"$py" "$convert" to-timelayers "$tmp/renamed/model.pt" "$tmp/renamed/model.safetensors" \
  --vocab-from "$tmp/word2/text.txt" >/dev/null
cmp -s "$tmp/word2/model.safetensors" "$tmp/renamed/model.safetensors" ||
  fail "encoder/rnn/decoder names give another checkpoint"
mkdir "$tmp/renamed-list"      # the same file name: converted_from records it
"$py" "$helper" rename "$tmp/word16,6/model.pt" "$tmp/renamed-list/model.pt"
"$py" "$convert" to-timelayers "$tmp/renamed-list/model.pt" "$tmp/renamed-list/model.safetensors" \
  --vocab-from "$tmp/word16,6/text.txt" >/dev/null
cmp -s "$tmp/word16,6/model.safetensors" "$tmp/renamed-list/model.safetensors" ||
  fail "a list named cells.0, cells.1 gives another checkpoint"
# --per-layer: equal widths as a list too, read back to the same checkpoint.
"$py" "$convert" to-torch "$tmp/word2/model.safetensors" "$tmp/renamed/per-layer.pt" --per-layer |
  grep -q "nn.ModuleList rnns of nn.LSTM(12, 20) -> nn.LSTM(20, 20)" || fail "--per-layer"
"$py" "$convert" to-timelayers "$tmp/renamed/per-layer.pt" "$tmp/renamed/per-layer.safetensors" \
  --vocab-from "$tmp/word2/text.txt" >/dev/null
"$py" "$helper" same-checkpoint "$tmp/word2/model.safetensors" "$tmp/renamed/per-layer.safetensors"

# Refusals, each with a message naming the problem.
"$py" "$helper" bad bidirectional "$tmp/bi.pt"
expect_fail "bidirectional recurrent modules are not supported" \
  "$py" "$convert" to-timelayers "$tmp/bi.pt" "$tmp/x.safetensors" --vocab-from "$tmp/word2/text.txt"
"$py" "$helper" bad proj "$tmp/proj.pt"
expect_fail "proj_size are not supported" \
  "$py" "$convert" to-timelayers "$tmp/proj.pt" "$tmp/x.safetensors" --vocab-from "$tmp/word2/text.txt"
expect_fail "the vocabulary has .* tokens but the model's embedding has .* rows" \
  "$py" "$convert" to-timelayers "$tmp/word2/model.pt" "$tmp/x.safetensors" \
  --vocab-from "$tmp/char1/text.txt"
expect_fail "'fc.weight' differs from 'embed.weight'" \
  "$py" "$convert" to-timelayers "$tmp/word2/model.pt" "$tmp/x.safetensors" --tie \
  --vocab-from "$tmp/word2/text.txt"
# A GRU takes recurrent dropout too: the rate lands in each TimeGRU.
"$py" "$convert" to-timelayers "$tmp/word2gru/model.pt" "$tmp/gd.safetensors" --rec-dropout 0.2 \
  --vocab-from "$tmp/word2gru/text.txt" >/dev/null
[ "$("$tl" info "$tmp/gd.safetensors" | grep -c "TimeGRU.*rec_dropout=0.2")" = 2 ] ||
  fail "to-timelayers --rec-dropout: $("$tl" info "$tmp/gd.safetensors")"
expect_fail "is not a rate in" \
  "$py" "$convert" to-timelayers "$tmp/word2/model.pt" "$tmp/x.safetensors" --dropout 1 \
  --vocab-from "$tmp/word2/text.txt"
expect_fail "cannot load a state dict" \
  "$py" "$convert" to-timelayers "$tmp/word2/text.txt" "$tmp/x.safetensors" \
  --vocab-from "$tmp/word2/text.txt"
"$tl" train --train "$tmp/word2/text.txt" --cell rnn --activation sigmoid --embed 4 --hidden 4 \
  --batch 1 --time 4 --max-steps 1 --quiet --out "$tmp/rnn.safetensors" >/dev/null
expect_fail "TimeRNN with the sigmoid activation; nn.RNN has only tanh and relu" \
  "$py" "$convert" to-torch "$tmp/rnn.safetensors" "$tmp/x.pt"
expect_fail "the vocabulary is char level, not word" \
  "$py" "$convert" to-timelayers "$tmp/char1/back.pt" "$tmp/x.safetensors" \
  --vocab "$tmp/char1/vocab.json" --level word
[ ! -e "$tmp/x.safetensors" ] && [ ! -e "$tmp/x.pt" ] || fail "a refused conversion wrote a file"
echo "torch interop: all checks passed"
