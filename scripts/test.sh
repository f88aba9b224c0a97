#!/usr/bin/env bash
# Runs setup (packages + Release build), then the whole test suite with ctest.
#   scripts/test.sh                  # everything
#   scripts/test.sh -L gradcheck     # extra arguments go to ctest
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${FF_BUILD_DIR:-$root/build}"

"$root/scripts/setup.sh"

jobs="${FF_JOBS:-$(nproc)}"
cd "$build_dir"
ctest --output-on-failure -j "$jobs" --timeout 600 "$@"
