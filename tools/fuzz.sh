#!/usr/bin/env bash
# Build the libFuzzer targets (clang, separate build dir build-fuzz) and run
# one of them. Usage: tools/fuzz.sh TARGET SECONDS [extra libFuzzer options]
#   TARGET: checkpoint, checkpoint_header, corpus, seq2seq, args or argv (tests/fuzz/meson.build)
# The run starts from the committed seeds (tests/fuzz/corpus/TARGET, read only)
# and every known regression; new interesting inputs go to
# build-fuzz/corpus-TARGET (kept between runs), a crash to
# build-fuzz/crash-TARGET-*. Exits non-zero when the fuzzer found a failure.
# One process on one core (libFuzzer's default; -jobs would fork and log to files).
# Inputs may grow to 64 KiB (-max_len; libFuzzer would stop at 4 KiB or the
# largest seed): real checkpoints and corpora are larger than 4 KiB.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 TARGET SECONDS [libFuzzer options]" >&2; exit 2; }
target=$1 seconds=$2; shift 2
dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" -Dfuzz=true -Dbuildtype=debugoptimized -Db_lundef=false >/dev/null
fi
ninja -C "$dir" "tests/fuzz/fuzz_$target" >/dev/null
mkdir -p "$dir/corpus-$target"
# The crash file's path is absolute: fuzz_argv runs the CLI in a directory of
# its own. Library errors are expected and silent; -close_fd_mask=2 hides what the
# target prints on stderr (the CLI parser's messages) but keeps crash reports.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
OPENBLAS_NUM_THREADS=1 \
"$dir/tests/fuzz/fuzz_$target" -max_total_time="$seconds" \
  -max_len=65536 -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 -close_fd_mask=2 -print_final_stats=1 \
  -artifact_prefix="$PWD/$dir/crash-$target-" "$@" \
  "$dir/corpus-$target" "tests/fuzz/corpus/$target" "tests/fuzz/regressions/$target"
