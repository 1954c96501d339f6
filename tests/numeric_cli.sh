#!/usr/bin/env bash
# A numerical fault through the CLI: a checkpoint with one NaN weight is
# resumed; training must stop before the first step with a message naming it,
# exit non-zero, and leave the checkpoint byte for byte as it was.
# (An absurd --lr cannot do it: the CLI caps it at 1e6, and the saturating
# gates keep even that finite.) Skips without python3 (used to poison it).
# Usage: tests/numeric_cli.sh BUILD_DIR
set -euo pipefail
tl="$1/tools/timelayers"
command -v python3 >/dev/null || { echo "python3 not found: skipping"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for i in $(seq 100); do echo "the cat sat on the mat $i times"; done >"$tmp/train.txt"
args=(--train "$tmp/train.txt" --hidden 16 --embed 8 --batch 2 --time 8 --quiet
      --out "$tmp/m.safetensors")
"$tl" train "${args[@]}" --max-steps 5 >/dev/null
python3 - "$tmp/m.safetensors" <<'PY'
import json, struct, sys
path = sys.argv[1]
b = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
begin = json.loads(b[8:8 + n])["layers.1.Wx"]["data_offsets"][0]
b[8 + n + begin:8 + n + begin + 4] = struct.pack("<f", float("nan"))
open(path, "wb").write(b)
PY
cp "$tmp/m.safetensors" "$tmp/before"
rc=0
"$tl" train "${args[@]}" --resume "$tmp/m.safetensors" --max-steps 10 >/dev/null \
  2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "training on a NaN weight exited $rc, expected 1"
# Refused before the first step: a non-finite weight is never saved.
grep -q "training stopped: step 5: not saving a non-finite parameter: layers.1.Wx\[0\] is nan" \
  "$tmp/err" || fail "message: $(cat "$tmp/err")"
cmp -s "$tmp/before" "$tmp/m.safetensors" || fail "the checkpoint changed"
echo "numeric: $(tail -1 "$tmp/err")"
