#!/usr/bin/env bash
# The main job, on a fresh machine: install and build, generate the synthetic identities, train
# MobileFaceNet on them (CPU, or GPU when one is present), validate the untrained and the trained
# network on held-out identities side by side, export ONNX and check it with onnxruntime.
#
#   scripts/demo.sh                      # everything, into out/demo/
#   FF_DEMO_STEPS=400 scripts/demo.sh    # train longer (default: configs/synthetic_mbf.prototxt)
#   FF_DEMO_OUT=/tmp/demo scripts/demo.sh
# Extra arguments are passed to train as --set overrides, e.g. scripts/demo.sh device=cuda
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${FF_BUILD_DIR:-$root/build}"
out="${FF_DEMO_OUT:-$root/out/demo}"
config="$root/configs/synthetic_mbf.prototxt"
start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start ))s"; }
banner() { echo; echo "==== [demo $(elapsed)] $*"; }

banner "install packages and build (scripts/setup.sh)"
"$root/scripts/setup.sh"
apps="$build_dir/apps"

# A GPU is used when present (device "auto"); the CPU run is sized for a few minutes on 2 cores.
device=cpu
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then device=auto; fi

overrides=(--set "data.path=$out/synthetic" --set "logging.output=$out/train" --set "device=$device")
if [[ -n "${FF_DEMO_STEPS:-}" ]]; then overrides+=(--set "optimizer.max_steps=$FF_DEMO_STEPS"); fi
for kv in "$@"; do overrides+=(--set "$kv"); done

rm -rf "$out/train"
mkdir -p "$out"
banner "train mbf on the synthetic identities (generated on first use under $out/synthetic)"
"$apps/train" --config "$config" "${overrides[@]}" 2>&1 | tee "$out/train.log"

val_args=(--network mbf --data "$out/synthetic/val" --targets lfw,cfp_fp,agedb_30)
banner "validate: untrained mbf (random weights) on the held-out pairs"
"$apps/val" "${val_args[@]}" --random-init --seed 1 --device "$device" 2>&1 | tee "$out/val_untrained.txt"
banner "validate: trained mbf ($out/train/model.safetensors)"
"$apps/val" "${val_args[@]}" --model "$out/train/model.safetensors" --device "$device" \
  --roc-csv "$out/roc.csv" 2>&1 | tee "$out/val_trained.txt"

banner "export ONNX and run it in onnxruntime"
"$apps/onnx_export" --model "$out/train/model.safetensors" --network mbf --output "$out/mbf.onnx" \
  --dynamic-batch --fold-bn --dump-reference "$out/onnx_in.npy" "$out/onnx_out.npy" --reference-batch 4 \
  2>&1 | tee "$out/onnx_export.txt"
onnx_status="skipped: no .venv with onnxruntime (scripts/ensure_venv.sh needs PyPI)"
if "$root/scripts/ensure_venv.sh"; then
  if "$root/.venv/bin/python" "$root/tools/onnxruntime_compare.py" "$out/mbf.onnx" "$out/onnx_in.npy" \
       "$out/onnx_out.npy" | tee "$out/onnxruntime.txt"; then
    onnx_status="$(tail -1 "$out/onnxruntime.txt")"
  else
    echo "demo: onnxruntime disagrees with FaceFlow" >&2
    exit 1
  fi
fi

# Side by side: Accuracy-Flip per target, untrained vs trained.
accuracy() { awk -v t="$2" '$1 == t { print $3 }' "$1"; }
banner "summary"
printf '%-10s %-20s %-20s\n' target untrained trained
for t in lfw cfp_fp agedb_30; do
  printf '%-10s %-20s %-20s\n' "$t" "$(accuracy "$out/val_untrained.txt" "$t")" "$(accuracy "$out/val_trained.txt" "$t")"
done
echo
echo "onnx: $onnx_status"
echo "outputs in $out:"
echo "  synthetic/       the generated dataset (train/part-*, val/*.bin, synthetic.json)"
echo "  train/           log.txt, metrics.jsonl, checkpoint_step*/, model.safetensors"
echo "  val_*.txt        validation tables; roc.csv: ROC of the trained model"
echo "  mbf.onnx         the exported model (input data Nx3x112x112, output embedding)"
echo "demo finished in $(elapsed)"
