#!/usr/bin/env bash
# Run a program as 2 MPI processes on this machine, as CI does (as root, more
# processes than cores allowed), bounded in time.
# Usage: tests/mpi_run.sh PROGRAM [ARGS...]
set -euo pipefail
# Shared-memory transport without the ptrace-based single copy, which
# containers often forbid.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# Open MPI leaves blocks allocated at exit, many in plugins already unloaded
# (LeakSanitizer cannot even name them): no leak report under ASan here. The
# library's own blocks are counted by the tests instead (tl__alloc_live).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
exec timeout 300 mpirun --oversubscribe --allow-run-as-root -np 2 "$@"
