#!/usr/bin/env bash
# Run a program as 2 MPI processes on this machine, as CI does (as root, more
# processes than cores allowed), bounded in time.
# Usage: tests/mpi_run.sh PROGRAM [ARGS...]
set -euo pipefail
# Shared-memory transport without the ptrace-based single copy, which
# containers often forbid.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
exec timeout 300 mpirun --oversubscribe --allow-run-as-root -np 2 "$@"
