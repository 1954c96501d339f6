#!/usr/bin/env bash
# Install the Debian packages timelayers needs to build and test, if missing.
# Usage: tools/install-deps.sh [--with-torch] [--with-mpi]
#   --with-torch  also install python3-torch/python3-numpy (golden-file
#                 regeneration and the PyTorch comparison tests).
#   --with-mpi    also install Open MPI (data-parallel training with mpirun,
#                 docs/distributed.md, and its tests); nothing else needs it.
set -euo pipefail

pkgs=(gcc pkg-config meson ninja-build libcmocka-dev libopenblas-dev libcjson-dev)
# clang and its libFuzzer runtime: the fuzzing stage of tools/test.sh (tools/fuzz.sh).
pkgs+=(clang libclang-rt-14-dev)
pkgs+=(valgrind)   # tools/valgrind.sh
for arg in "$@"; do
  case "$arg" in
    --with-torch) pkgs+=(python3 python3-numpy python3-torch) ;;
    --with-mpi) pkgs+=(libopenmpi-dev openmpi-bin) ;;
    *) echo "usage: tools/install-deps.sh [--with-torch] [--with-mpi]" >&2; exit 2 ;;
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
