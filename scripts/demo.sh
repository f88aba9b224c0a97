#!/usr/bin/env bash
# The main job. Until the face-recognition apps land, it builds FaceFlow and trains the small
# CNN example (framework/ only, CPU) on the synthetic 10-class glyph task, then prints the
# held-out accuracy and saves a safetensors checkpoint under out/cnn_example/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${FF_BUILD_DIR:-$root/build}"

"$root/scripts/setup.sh"
cd "$root"
"$build_dir/apps/cnn_example" "$@"
