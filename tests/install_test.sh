#!/usr/bin/env bash
# The installed library: `meson install` of BUILD_DIR into a temporary
# directory, then tests/consumer/consumer.c compiled and linked with
# pkg-config only (timelayers: shared; timelayers-f64: static), run, and
# checked: soname, precision, a falling loss. SANITIZE is the build's
# b_sanitize, so that the program links an instrumented library.
# LIBRARIES is the build's default_library (both, shared or static): the
# kinds not built are not checked. BLAS is the build's -Dblas: the static link
# line must name it.
# Usage: tests/install_test.sh SOURCE_DIR BUILD_DIR [SANITIZE [LIBRARIES [BLAS]]]
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
sanitize=${3:-none}
libraries=${4:-both}
blas=${5:-openblas}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

meson install -C "$build" --no-rebuild --destdir "$tmp/dest" >"$tmp/install.log" 2>&1 ||
  fail "meson install: $(tail -20 "$tmp/install.log")"
pc=$(find "$tmp/dest" -name timelayers.pc)
[ -n "$pc" ] || fail "no timelayers.pc installed"
[ -f "$(dirname "$pc")/timelayers-f64.pc" ] || fail "no timelayers-f64.pc installed"
libdir=$(dirname "$(dirname "$pc")")
# The .pc files name the configured prefix; point it into the temporary tree.
prefix=$(sed -n 's/^prefix=//p' "$pc")
export PKG_CONFIG_PATH="$(dirname "$pc")"
pc_flags() { pkg-config --define-variable=prefix="$tmp/dest$prefix" "$@"; }

want=()
[ "$libraries" = static ] || want+=(libtimelayers.so.0 libtimelayers_f64.so.0)
[ "$libraries" = shared ] || want+=(libtimelayers.a libtimelayers_f64.a)
for f in "${want[@]}"; do
  [ -e "$libdir/$f" ] || fail "$libdir/$f not installed (default_library=$libraries)"
done
[ "$libraries" != both ] && { echo "install: default_library=$libraries; the full check needs both (a fresh build directory)"; exit 77; }
soname=$(objdump -p "$libdir/libtimelayers.so.0" | sed -n 's/^ *SONAME *//p')
[ "$soname" = libtimelayers.so.0 ] || fail "soname '$soname', expected libtimelayers.so.0"
[ -f "$tmp/dest$prefix/include/timelayers/timelayers.h" ] || fail "headers not installed"
# (Outputs go through files: with pipefail, grep -q ending a pipe early fails it.)
pkg-config --print-requires-private timelayers >"$tmp/requires"
pkg-config --static --libs timelayers >>"$tmp/requires"
case $blas in
  openblas) grep -q openblas "$tmp/requires" || fail "openblas not in Requires.private: $(cat "$tmp/requires")" ;;
  blis) grep -q blis "$tmp/requires" || fail "BLIS not in the static link line: $(cat "$tmp/requires")" ;;
  *) grep -q blas "$tmp/requires" || fail "no BLAS in the static link line: $(cat "$tmp/requires")" ;;
esac

extra=()
[ "$sanitize" = none ] || extra=(-fsanitize="$sanitize")
cc=${CC:-cc}

# Shared, float.
# shellcheck disable=SC2046
"$cc" "${extra[@]}" -o "$tmp/consumer" "$src/tests/consumer/consumer.c" \
  $(pc_flags --cflags --libs timelayers) || fail "compile with pkg-config timelayers"
LD_LIBRARY_PATH="$libdir" ldd "$tmp/consumer" >"$tmp/ldd"
grep -q "libtimelayers.so.0 => $libdir" "$tmp/ldd" ||
  fail "not linked against the installed libtimelayers.so.0: $(cat "$tmp/ldd")"
LD_LIBRARY_PATH="$libdir" "$tmp/consumer" | tee "$tmp/out"

# Static, double: only the archive in a library directory of its own.
mkdir -p "$tmp/static/lib" && cp "$libdir/libtimelayers_f64.a" "$tmp/static/lib/"
# shellcheck disable=SC2046
"$cc" "${extra[@]}" -o "$tmp/consumer_f64" "$src/tests/consumer/consumer.c" \
  $(pc_flags --cflags timelayers-f64) -L"$tmp/static/lib" \
  $(pc_flags --static --libs timelayers-f64 | sed "s|-L[^ ]*||g") ||
  fail "compile with pkg-config --static timelayers-f64"
ldd "$tmp/consumer_f64" >"$tmp/ldd" || true
if grep -q timelayers "$tmp/ldd"; then fail "consumer_f64 is not static: $(cat "$tmp/ldd")"; fi
"$tmp/consumer_f64" | tee -a "$tmp/out"

grep -q "consumer: float" "$tmp/out" && grep -q "consumer: double" "$tmp/out" ||
  fail "precisions: $(cat "$tmp/out")"

# The installed CLI (unless -Dcli=disabled), run from elsewhere: with no
# --train it trains on the default corpus installed beside it.
tl="$tmp/dest$prefix/bin/timelayers"
if [ -x "$tl" ]; then
  mkdir "$tmp/elsewhere" && cd "$tmp/elsewhere"
  "$tl" train --max-steps 3 --embed 8 --hidden 16 --batch 4 --time 16 --quiet \
    --out m.safetensors >"$tmp/train.out" || fail "installed timelayers train: $(cat "$tmp/train.out")"
  corpus=$(find "$tmp/dest" -name tinyshakespeare.txt)
  [ -n "$corpus" ] || fail "the default corpus is not installed"
  grep -q "data: $corpus:" "$tmp/train.out" ||
    fail "the installed CLI did not use the installed corpus $corpus: $(cat "$tmp/train.out")"
  "$tl" sample m.safetensors --prompt "ROMEO:" --length 20 >"$tmp/sample.out" ||
    fail "installed timelayers sample"
  grep -q "^ROMEO:" "$tmp/sample.out" || fail "sample output: $(cat "$tmp/sample.out")"
  echo "install: the installed timelayers trains on $corpus from another directory"
fi
echo "install: shared and static libraries, headers and pkg-config files work from $prefix"
