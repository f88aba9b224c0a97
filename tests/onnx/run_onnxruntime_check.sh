#!/usr/bin/env bash
# ctest entry onnx_onnxruntime_check: makes sure .venv (numpy, onnx, onnxruntime) exists, then
# runs check_with_onnxruntime.py with it. Exit 77 (ctest SKIP_RETURN_CODE) only when the venv
# cannot be created; any export or comparison failure fails the test.
#   usage: run_onnxruntime_check.sh EXPORTER OP_ZOO_DUMP WORKDIR
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${FF_VENV:-$root/.venv}"

if ! "$root/scripts/ensure_venv.sh"; then
  echo "SKIP: could not create $venv with numpy, onnx and onnxruntime (see the messages above)"
  exit 77
fi
exec "$venv/bin/python" "$here/check_with_onnxruntime.py" "$@"
