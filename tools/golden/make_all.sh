#!/usr/bin/env bash
# Regenerate every golden file in tests/golden with Debian's python3 + torch.
set -euo pipefail
cd "$(dirname "$0")"
for script in *.py; do
  [ "$script" = golden.py ] && continue
  /usr/bin/python3 "$script"
done
