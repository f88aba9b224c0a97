#!/usr/bin/env bash
# Idempotent setup: installs the Debian packages FaceFlow needs, then configures
# and builds a Release tree in build/. Safe to run repeatedly; a second run only
# rebuilds what changed.
#
#   scripts/setup.sh                 # packages + Release build into build/
#   FF_SKIP_APT=1 scripts/setup.sh   # skip the package step (no root / offline)
#   FF_BUILD_DIR=out scripts/setup.sh
#   FF_CMAKE_ARGS="-DFF_WITH_CUDA=OFF" scripts/setup.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${FF_BUILD_DIR:-$root/build}"
build_type="${FF_BUILD_TYPE:-Release}"

# Packages from shared/reference/toolchain.md (core install line). The CUDA
# toolkit, cuDNN and NCCL come from /usr/local/cuda, not from apt.
packages=(
  cmake ninja-build g++ pkg-config
  libopenmpi-dev openmpi-bin
  libprotobuf-dev protobuf-compiler
  libfmt-dev libgtest-dev libgmock-dev
  libopenblas-dev libturbojpeg0-dev libjpeg62-turbo-dev
  ccache
  libonnx-dev python3-onnx python3-numpy python3-venv
)

missing_packages() {
  local p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

if [[ "${FF_SKIP_APT:-0}" != "1" ]]; then
  mapfile -t need < <(missing_packages)
  if ((${#need[@]})); then
    echo "[setup] installing: ${need[*]}"
    sudo_cmd=()
    [[ "$(id -u)" != "0" ]] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    echo "[setup] all Debian packages present"
  fi
fi

# nvcc lives outside the default PATH on some machines.
if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

jobs="${FF_JOBS:-$(nproc)}"
# shellcheck disable=SC2086
cmake -S "$root" -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE="$build_type" -DFF_BUILD_TESTS=ON ${FF_CMAKE_ARGS:-}
cmake --build "$build_dir" -j "$jobs"
echo "[setup] built $build_type into $build_dir"

# .venv with numpy, onnx and onnxruntime from pip, for the onnxruntime check of exported models
# (tests/onnx). Without PyPI access that one test skips; nothing else needs the venv.
"$root/scripts/ensure_venv.sh" || echo "[setup] warning: no .venv; the onnxruntime check will be skipped"
