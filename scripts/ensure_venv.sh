#!/usr/bin/env bash
# Creates <repo>/.venv with numpy, onnx and onnxruntime from pip unless it already imports them.
# Used by scripts/setup.sh and by the onnxruntime check (tests/onnx/run_onnxruntime_check.sh).
# Needs Debian's python3-venv and access to PyPI. Exit status 0 = the venv is usable.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${FF_VENV:-$root/.venv}"

if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import numpy, onnx, onnxruntime" 2>/dev/null; then
  exit 0
fi
echo "[venv] creating $venv with numpy, onnx, onnxruntime"
if ! python3 -m venv "$venv"; then
  echo "[venv] python3 -m venv failed (is Debian's python3-venv installed?)" >&2
  exit 1
fi
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check numpy onnx onnxruntime; then
  echo "[venv] pip install numpy onnx onnxruntime failed (no access to PyPI?)" >&2
  exit 1
fi
"$venv/bin/python" -c "import numpy, onnx, onnxruntime; print('[venv] onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__)"
