#!/usr/bin/env bash
# timelayers as a Meson subproject: the project in tests/consumer, with this
# source tree at subprojects/timelayers, finds dependency('timelayers') and
# dependency('timelayers-f64') (meson.override_dependency), configures
# without cmocka's tests, the CLI or the examples, builds at -O0 (seconds) and
# its programs train. Usage: tests/subproject_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$tmp/subprojects"
cp "$src/tests/consumer/meson.build" "$src/tests/consumer/consumer.c" "$tmp/"
ln -s "$src" "$tmp/subprojects/timelayers"
# --force-fallback-for: use the subproject even where timelayers is installed.
meson setup "$tmp/build" "$tmp" -Doptimization=0 \
  --force-fallback-for=timelayers,timelayers-f64 >"$tmp/setup.log" 2>&1 ||
  fail "meson setup: $(tail -20 "$tmp/setup.log")"
grep -q "Dependency timelayers found: YES .*(overridden)" "$tmp/setup.log" ||
  fail "dependency('timelayers') did not come from the subproject: $(cat "$tmp/setup.log")"
# As a subproject only the libraries are built: no test, CLI or example targets.
targets=$(meson introspect --targets "$tmp/build" | python3 -c \
  'import json, sys; print(" ".join(t["name"] for t in json.load(sys.stdin)))')
for t in $targets; do
  case $t in
    consumer|consumer_f64|timelayers|timelayers_f64) ;;
    *) fail "unexpected target $t in a subproject build (all: $targets)" ;;
  esac
done
ninja -C "$tmp/build" >"$tmp/build.log" 2>&1 || fail "build: $(tail -30 "$tmp/build.log")"
"$tmp/build/consumer" | tee "$tmp/out"
"$tmp/build/consumer_f64" | tee -a "$tmp/out"
grep -q "consumer: float" "$tmp/out" && grep -q "consumer: double" "$tmp/out" ||
  fail "precisions: $(cat "$tmp/out")"
echo "subproject: dependency('timelayers') and ('timelayers-f64') built and trained"
