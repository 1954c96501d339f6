#!/usr/bin/env bash
# Install the Debian packages timelayers needs, if missing.
# Usage: tools/install-deps.sh [--test] [--with-torch] [--with-mpi]
#   (none)        what building the library and the CLI needs
#   --test        also what the test suite needs: cmocka, valgrind, clang and
#                 its libFuzzer runtime (tools/test.sh)
#   --with-torch  also python3-torch/python3-numpy (golden-file regeneration
#                 and the PyTorch comparison tests)
set -euo pipefail

pkgs=(gcc pkg-config meson ninja-build libopenblas-dev libcjson-dev)
for arg in "$@"; do
  case $arg in
    --test) pkgs+=(libcmocka-dev valgrind clang libclang-rt-14-dev) ;;
    --with-torch) pkgs+=(python3 python3-numpy python3-torch) ;;
    --with-mpi) pkgs+=(libopenmpi-dev openmpi-bin) ;;
    *) echo "usage: $0 [--test] [--with-torch] [--with-mpi]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "timelayers: installing missing packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
