#!/usr/bin/env bash
# Build timelayers and run the whole test suite: a release build, valgrind on
# a representative subset, an AddressSanitizer + UndefinedBehaviorSanitizer
# build, then each fuzz target for 20 s. Exits non-zero when anything fails.
# Usage: tools/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh --test --with-torch --with-mpi

run_suite() {  # build-dir, meson setup options... [-- meson test options...]
  local dir=$1; shift
  local setup=() testopts=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do setup+=("$1"); shift; done
  [ $# -gt 0 ] && { shift; testopts=("$@"); }
  # -Dtests=enabled: a build directory configured without cmocka (by
  # tools/demo.sh, say) gets its tests now, or this fails.
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Dtests=enabled "${setup[@]}" >/dev/null
  else
    meson configure "$dir" -Dtests=enabled >/dev/null
  fi
  ninja -C "$dir" >/dev/null
  meson test -C "$dir" --print-errorlogs --num-processes 2 "${testopts[@]}"
}

echo "== release build =="
run_suite build

echo "== valgrind (memcheck, leaks) =="
tools/valgrind.sh build

echo "== ASan + UBSan build =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
run_suite build-asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -- --no-suite recipes

# Fuzzing: every target of tests/fuzz for 20 s from its seeds (six targets
# in the two minutes four took at 30 s: CI stays under 15 minutes;
# tools/fuzz.sh builds build-fuzz with clang; docs/fuzzing.md). A finding
# fails the run and leaves its input in build-fuzz/crash-TARGET-*.
echo "== fuzzing (20 s per target) =="
mkdir -p build-fuzz-logs
for target in checkpoint checkpoint_header corpus seq2seq args argv; do
  if tools/fuzz.sh "$target" 20 >"build-fuzz-logs/$target.log" 2>&1; then
    echo "fuzz $target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "build-fuzz-logs/$target.log")"
  else
    tail -40 "build-fuzz-logs/$target.log"
    echo "fuzz $target: FAILED (log: build-fuzz-logs/$target.log)"
    exit 1
  fi
done
echo "All tests passed (release, valgrind, sanitizer builds and fuzzing)."
