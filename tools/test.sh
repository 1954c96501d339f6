#!/usr/bin/env bash
# Build timelayers and run the whole test suite twice: a release build, then
# an AddressSanitizer + UndefinedBehaviorSanitizer build. Exits non-zero when
# anything fails. Usage: tools/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh --with-torch

run_suite() {  # build-dir, meson setup options... [-- meson test options...]
  local dir=$1; shift
  local setup=() testopts=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do setup+=("$1"); shift; done
  [ $# -gt 0 ] && { shift; testopts=("$@"); }
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "${setup[@]}" >/dev/null
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
echo "All tests passed (release, valgrind and sanitizer builds)."
