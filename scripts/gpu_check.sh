#!/usr/bin/env bash
# GPU check for a lent GPU machine: runs every CUDA test binary, the GPU benchmarks (the whole
# training step of r100 and mbf in fp32/fp16/bf16 at batch 128, FaceFlow and, where python3 has
# torch, PyTorch on the same machine), then prints the FaceFlow-vs-PyTorch table and a summary
# table (last). Designed to finish in under 8 minutes; every stage runs under `timeout`, a failing
# stage is counted and the next one still runs.
#
#   scripts/gpu_check.sh                      # uses build/ (carried), builds it if unusable
#   FF_BUILD_DIR=build-h11 scripts/gpu_check.sh
#   FF_GPU_CHECK_OUT=/tmp/out scripts/gpu_check.sh   # where logs and XML reports go ($OUT if set)
#   FF_GPU_CHECK_FILTER='CudaReduce.*' scripts/gpu_check.sh   # a gtest filter for the test binaries
#   FF_GPU_CHECK_BATCH=128 FF_GPU_CHECK_ITERS=10 FF_GPU_CHECK_WARMUP=3 FF_GPU_CHECK_CLASSES=93431
#   FF_GPU_CHECK_NETWORKS='r100 mbf' FF_GPU_CHECK_PRECISIONS=fp32,fp16,bf16   # training-step bench
#   FF_GPU_CHECK_DEVICE=cpu   # runs the benchmark stages on the CPU: a dry run of this script on a
#                             # machine without a GPU (with tiny sizes: batch 2, mbf, 1 iteration)
#
#   scripts/gpu_check.sh --pack SRC_BUILD DEST   # on the build machine: a carry-able build (below)
#
# Carrying a build (the device tool carries at most 64 MiB with the working tree): --pack copies
# from a CUDA build directory the CUDA test binaries, apps/bench, apps/train, apps/val and FaceFlow's shared libraries,
# stripped, plus every shared library they load that is neither the C/C++ runtime nor CUDA's
# (fmt, OpenBLAS, gfortran, MPI, ...: the GPU machine's image may lack them), into one
# DEST/ff_carry.tar.xz. Carry DEST and run `FF_BUILD_DIR=DEST scripts/gpu_check.sh`: the archive is
# unpacked in place first. CUDA's own libraries are taken from /usr/local/cuda/lib64 and, for any
# of cuDNN/NCCL/cuBLAS missing there, from the nvidia-* Python packages next to PyTorch.
#
# Build: if the build directory has no loadable ff_*cuda*_tests binary (not carried, or built
# against libraries this machine lacks) and a GPU is present, it configures a Release build for
# sm_90 only, without MPI, and builds just the CUDA test binaries, bench, train and val (under 4 minutes
# on 16 cores). Without a GPU (no nvidia-smi, or it lists none) nothing is built, the test binaries
# found still run (their GPU tests skip, printing why) and the GPU benchmarks are skipped with the
# reason. Exit status: 0 when every step passed or was skipped, 1 otherwise.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# ---- --pack: make a carry-able build ------------------------------------------------------------------
# Libraries every machine has (C/C++ runtime) or that come with the CUDA toolkit/driver there.
is_host_or_cuda_lib() {
  [[ "$1" =~ ^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libutil|libresolv|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt|libcudnn[a-z_]*|libnccl|libnvrtc|libnvJitLink|libcufft|libcurand|libcusparse|libcusolver)\.so ]]
}

pack() {
  local src dest
  src="$(cd "$1" 2>/dev/null && pwd)" || { echo "gpu_check --pack: no build directory $1" >&2; return 2; }
  mkdir -p "$2" && dest="$(cd "$2" && pwd)" || { echo "gpu_check --pack: cannot create $2" >&2; return 2; }
  [[ -f "$src/libfaceflow.so" ]] || { echo "gpu_check --pack: $src/libfaceflow.so not found (build the CUDA tree first)" >&2; return 2; }
  grep -q '^FF_WITH_CUDA:BOOL=ON' "$src/CMakeCache.txt" 2>/dev/null ||
    { echo "gpu_check --pack: $src is not a CUDA build (FF_WITH_CUDA is not ON in its CMakeCache.txt)" >&2; return 2; }
  local stage files=() f
  stage="$(mktemp -d)"
  (cd "$src" && find . -maxdepth 3 -type f \( -name '*.so' -o -path './tests/ff_*cuda*_tests' -o -path './apps/bench' -o -path './apps/train' -o -path './apps/val' \) \
     ! -path '*/CMakeFiles/*' | sort) > "$stage/list"
  mapfile -t files < "$stage/list"
  grep -q '^./apps/bench$' "$stage/list" || echo "gpu_check --pack: warning: $src/apps/bench is not built" >&2
  grep -q '^./tests/ff_.*cuda.*_tests$' "$stage/list" || echo "gpu_check --pack: warning: no ff_*cuda*_tests in $src/tests" >&2
  mkdir -p "$stage/tree/lib"
  for f in "${files[@]}"; do
    mkdir -p "$stage/tree/$(dirname "$f")"
    cp "$src/$f" "$stage/tree/$f"
    strip --strip-unneeded "$stage/tree/$f" 2>/dev/null || true
  done
  # The dependencies the GPU machine may lack, resolved here (with the build's own libraries on the path).
  local deps
  deps="$(cd "$src" && LD_LIBRARY_PATH="$(find "$src" -maxdepth 3 -name '*.so' ! -path '*/CMakeFiles/*' -printf '%h:' | tr -s ':')${LD_LIBRARY_PATH:-}" \
          ldd "${files[@]}" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1 " " $3}' | sort -u)"
  while read -r name path; do
    [[ -z "$name" ]] && continue
    is_host_or_cuda_lib "$name" && continue
    [[ "$path" == "$src"/* ]] && continue
    cp -L "$path" "$stage/tree/lib/$name"
  done <<<"$deps"
  tar -C "$stage/tree" -cf - . | xz -T2 -6 > "$dest/ff_carry.tar.xz"
  echo "gpu_check --pack: $(wc -l < "$stage/list") build files + $(ls "$stage/tree/lib" | wc -l) libraries" \
       "($(ls "$stage/tree/lib" | tr '\n' ' ')) -> $dest/ff_carry.tar.xz" \
       "($(( $(stat -c %s "$dest/ff_carry.tar.xz") / 1048576 )) MiB; unpacked $(du -sm "$stage/tree" | cut -f1) MiB)"
  local shown="${dest#"$root"/}"
  echo "carry it (an ignored path inside the repository, e.g. build-carry) and run: FF_BUILD_DIR=$shown scripts/gpu_check.sh"
  rm -rf "$stage"
}

if [[ "${1:-}" == "--pack" ]]; then
  [[ $# -eq 3 ]] || { echo "usage: scripts/gpu_check.sh --pack SRC_BUILD_DIR DEST_DIR" >&2; exit 2; }
  pack "$2" "$3"
  exit $?
elif [[ $# -gt 0 ]]; then
  echo "usage: scripts/gpu_check.sh [--pack SRC_BUILD_DIR DEST_DIR]  (settings through FF_* variables; see the header)" >&2
  exit 2
fi

# ---- the check ------------------------------------------------------------------------------------------
build_dir="${FF_BUILD_DIR:-$root/build}"
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac
out_dir="${FF_GPU_CHECK_OUT:-${OUT:-$build_dir/gpu_check}}"
filter="${FF_GPU_CHECK_FILTER:-*}"
batch="${FF_GPU_CHECK_BATCH:-128}"
iters="${FF_GPU_CHECK_ITERS:-10}"
warmup="${FF_GPU_CHECK_WARMUP:-3}"
classes="${FF_GPU_CHECK_CLASSES:-93431}"  # MS1MV3 on one GPU
networks="${FF_GPU_CHECK_NETWORKS:-r100 mbf}"
precisions="${FF_GPU_CHECK_PRECISIONS:-fp32,fp16,bf16}"
bench_device="${FF_GPU_CHECK_DEVICE:-cuda}"
deadline=470   # seconds from the start: everything ends by then (8 minutes minus the summary)
bench_reserve=250  # seconds kept for the GPU benchmarks while the tests run (estimates in docs/benchmarks.md)
mkdir -p "$out_dir"
rm -f "$out_dir"/bench_gpu.md "$out_dir"/bench_train_*.md "$out_dir"/bench_torch_*.md  # the tables are read back below
export PATH="/usr/local/cuda/bin:$PATH"
export FF_CUDA_THROUGHPUT="${FF_CUDA_THROUGHPUT:-1}"  # tests/cuda/throughput_test.cpp prints GB/s tables

start=$SECONDS
rows=()   # summary rows: "step|status|seconds|details"
failed=0
add_row() { rows+=("$1|$2|$3|$4"); [[ "$2" == FAIL ]] && failed=1; return 0; }
log() { echo "[gpu_check $((SECONDS - start))s] $*"; }
left() { echo $((deadline - (SECONDS - start))); }  # seconds left before the deadline

# ---- 0. the device ---------------------------------------------------------------------------------
gpu_name=""
no_gpu_reason=""
if ! command -v nvidia-smi >/dev/null 2>&1; then
  no_gpu_reason="no GPU: nvidia-smi not found"
else
  gpu_name="$(timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)"
  [[ -n "$gpu_name" ]] || no_gpu_reason="no GPU: nvidia-smi lists none"
fi
if [[ -n "$no_gpu_reason" ]]; then
  log "$no_gpu_reason: GPU stages will be skipped"
  bench_reserve=0
else
  log "GPU: $gpu_name"
fi

# ---- 1. binaries -------------------------------------------------------------------------------------
if [[ -f "$build_dir/ff_carry.tar.xz" && ! -f "$build_dir/.ff_carry_unpacked" ]]; then
  log "unpacking $build_dir/ff_carry.tar.xz"
  if tar -C "$build_dir" -xJf "$build_dir/ff_carry.tar.xz"; then
    touch "$build_dir/.ff_carry_unpacked"
    # The bundled libraries are fallbacks: where this machine has a library of the same soname,
    # its own copy is used (it matches the rest of the system).
    for lib in "$build_dir"/lib/*.so*; do
      [[ -e "$lib" ]] || continue
      if ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$(basename "$lib") "; then rm -f "$lib"; fi
    done
    log "bundled libraries used: $(cd "$build_dir/lib" 2>/dev/null && ls | tr '\n' ' ')"
    add_row unpack PASS 0 "ff_carry.tar.xz into $build_dir"
  else
    add_row unpack FAIL 0 "could not unpack $build_dir/ff_carry.tar.xz"
  fi
fi

# The binaries' RUNPATH names the directory they were built in; a carried build may live elsewhere:
# every folder of the build holding a shared library goes on the path, then the carried lib/.
build_lib_dirs="$(find "$build_dir" -maxdepth 3 -name '*.so' ! -path '*/CMakeFiles/*' -printf '%h\n' 2>/dev/null | sort -u | tr '\n' ':')"
cuda_lib_dirs="/usr/local/cuda/lib64"
# cuDNN, NCCL or cuBLAS missing from the toolkit: take those of the nvidia-* wheels beside PyTorch.
for lib in libcudnn.so.9 libnccl.so.2 libcublas.so.13; do
  if [[ ! -e "/usr/local/cuda/lib64/$lib" ]] && ! ldconfig -p 2>/dev/null | grep -q "$lib"; then
    wheel_dirs="$(timeout 60 python3 -c 'import glob, sys; print(":".join(sorted({d for p in sys.path for d in glob.glob(p + "/nvidia/*/lib")})))' 2>/dev/null)"
    [[ -n "$wheel_dirs" ]] && cuda_lib_dirs="$cuda_lib_dirs:$wheel_dirs" && log "$lib is not in /usr/local/cuda/lib64: using $wheel_dirs"
    break
  fi
done
export LD_LIBRARY_PATH="${build_lib_dirs}$build_dir/lib:$cuda_lib_dirs:${LD_LIBRARY_PATH:-}"

loadable() {  # the binary exists and every shared library it needs resolves
  [[ -x "$1" ]] && ! ldd "$1" 2>/dev/null | grep -q "not found"
}
missing_libs() { ldd "$1" 2>/dev/null | awk '/not found/ {print $1}' | sort -u | tr '\n' ' '; }
find_test_bins() { find "$build_dir/tests" -maxdepth 1 -type f -name 'ff_*cuda*_tests' 2>/dev/null | sort; }

mapfile -t test_bins < <(find_test_bins)
usable=1
((${#test_bins[@]})) || usable=0
for b in "${test_bins[@]}"; do loadable "$b" || { usable=0; log "$(basename "$b") does not load: missing $(missing_libs "$b")"; }; done
if ((usable)); then
  add_row build "carried" 0 "$build_dir"
elif [[ -n "$no_gpu_reason" ]]; then
  add_row build SKIP 0 "$no_gpu_reason: not building a CUDA tree here (no loadable ff_*cuda*_tests in $build_dir)"
else
  log "no loadable CUDA test binary in $build_dir: building (Release, sm_90, no MPI)"
  t0=$SECONDS
  launcher=()
  command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CUDA_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  if timeout 60 cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFF_WITH_CUDA=ON \
       -DCMAKE_CUDA_ARCHITECTURES=90 -DFF_WITH_MPI=OFF "${launcher[@]}" >"$out_dir/configure.log" 2>&1; then
    mapfile -t targets < <(ninja -C "$build_dir" -t targets all 2>/dev/null | grep -oE '^ff_[A-Za-z0-9_]*cuda[A-Za-z0-9_]*_tests' | sort -u)
    for app in bench train val; do
      ninja -C "$build_dir" -t targets all 2>/dev/null | grep -qE "^$app:" && targets+=("$app")
    done
    if timeout 240 ninja -C "$build_dir" -j "$(nproc)" "${targets[@]}" >"$out_dir/build.log" 2>&1; then
      add_row build PASS $((SECONDS - t0)) "built ${targets[*]}"
    else
      add_row build FAIL $((SECONDS - t0)) "see $out_dir/build.log"
      tail -n 30 "$out_dir/build.log"
    fi
  else
    add_row build FAIL $((SECONDS - t0)) "configure failed: see $out_dir/configure.log"
    tail -n 30 "$out_dir/configure.log"
  fi
  build_lib_dirs="$(find "$build_dir" -maxdepth 3 -name '*.so' ! -path '*/CMakeFiles/*' -printf '%h\n' 2>/dev/null | sort -u | tr '\n' ':')"
  export LD_LIBRARY_PATH="${build_lib_dirs}$LD_LIBRARY_PATH"
  mapfile -t test_bins < <(find_test_bins)
fi

# ---- 2. CUDA tests -----------------------------------------------------------------------------------
for b in "${test_bins[@]}"; do
  name="$(basename "$b")"
  remaining=$(($(left) - bench_reserve))
  if ((remaining < 30)); then
    add_row "$name" FAIL 0 "not run: time budget exhausted"
    continue
  fi
  if ! loadable "$b"; then
    add_row "$name" FAIL 0 "does not load: missing $(missing_libs "$b")"
    continue
  fi
  log "running $name (timeout ${remaining}s, filter '$filter')"
  t0=$SECONDS
  timeout "$remaining" "$b" --gtest_filter="$filter" --gtest_output="xml:$out_dir/$name.xml" >"$out_dir/$name.log" 2>&1
  rc=$?
  passed=$(grep -c '^\[       OK \]' "$out_dir/$name.log")
  failed_n=$(grep -c '^\[  FAILED  \] [A-Za-z]*\.[A-Za-z]* (' "$out_dir/$name.log")
  skipped=$(grep -c '^\[  SKIPPED \] [A-Za-z]*\.[A-Za-z]* (' "$out_dir/$name.log")
  detail="$passed passed, $failed_n failed, $skipped skipped"
  if ((rc == 124)); then
    add_row "$name" FAIL $((SECONDS - t0)) "timed out; $detail"
  elif ((rc != 0)); then
    add_row "$name" FAIL $((SECONDS - t0)) "exit $rc; $detail"
  elif grep -q '^no CUDA device' "$out_dir/$name.log"; then
    add_row "$name" SKIP $((SECONDS - t0)) "$detail: $(grep -m1 '^no CUDA device' "$out_dir/$name.log")"
  else
    add_row "$name" PASS $((SECONDS - t0)) "$detail"
  fi
  # Kernel throughput tables (tests/cuda/throughput_test.cpp), then failures with their reasons.
  sed -n '/^| kernel |/,/^$/p' "$out_dir/$name.log"
  grep -E '^\[  FAILED  \]|Failure$|^no CUDA device' "$out_dir/$name.log" | sort | uniq -c | head -n 40
  grep -B1 -A6 'Failure$' "$out_dir/$name.log" | head -n 80
done
((${#test_bins[@]})) || add_row "cuda tests" FAIL 0 "no ff_*cuda*_tests binary in $build_dir/tests"

# ---- 3. GPU benchmarks -------------------------------------------------------------------------------
# run_bench STEP LIMIT LOG CMD...: one benchmark under `timeout` (at most LIMIT seconds and what is
# left), its output kept in LOG and echoed; a failure is counted and the next stage runs.
run_bench() {
  local step="$1" limit="$2" logf="$3"
  shift 3
  local t=$(( $(left) < limit ? $(left) : limit ))
  if ((t < 20)); then
    add_row "$step" FAIL 0 "not run: time budget exhausted"
    return
  fi
  log "running $step (timeout ${t}s)"
  local t0=$SECONDS rc
  timeout "$t" "$@" >"$logf" 2>&1
  rc=$?
  cat "$logf"
  if ((rc == 0)); then
    add_row "$step" PASS $((SECONDS - t0)) "$(basename "$logf")"
  elif ((rc == 124)); then
    add_row "$step" FAIL $((SECONDS - t0)) "timed out after ${t}s; partial rows in $(basename "$logf")"
  else
    add_row "$step" FAIL $((SECONDS - t0)) "exit $rc; see $(basename "$logf")"
  fi
}

# ---- 2b. the apps on the GPU ---------------------------------------------------------------------------
# A short training run (configs/synthetic_tiny: the synthetic identities, tiny mbf) in fp16 on the
# device, which exercises the trainer's CUDA path (loader transfer, GradScaler with float32 master
# weights, Partial FC, checkpoints) stopped after 4 of its 8 steps and resumed, then val on the device.
train_bin="$build_dir/apps/train"
val_bin="$build_dir/apps/val"
if [[ -n "$no_gpu_reason" ]]; then
  add_row "apps on GPU" SKIP 0 "$no_gpu_reason"
elif ! loadable "$train_bin" || ! loadable "$val_bin"; then
  add_row "apps on GPU" FAIL 0 "apps/train or apps/val not built or not loadable"
else
  apps_dir="$out_dir/apps_gpu"
  rm -rf "$apps_dir"
  tiny=(--config "$root/configs/synthetic_tiny.prototxt" --set device=cuda --set precision=fp16
        --set "data.path=$apps_dir/synthetic" --set "logging.output=$apps_dir/train")
  run_bench "train synthetic_tiny fp16, steps 1-4 (cuda)" 60 "$out_dir/train_gpu.log" "$train_bin" "${tiny[@]}" \
    --set optimizer.max_steps=4
  run_bench "train resumed, steps 5-8 (cuda)" 40 "$out_dir/train_gpu_resume.log" "$train_bin" "${tiny[@]}" \
    --set logging.resume=true
  run_bench "val (cuda)" 40 "$out_dir/val_gpu.log" "$val_bin" --network mbf --model "$apps_dir/train/model.safetensors" \
    --data "$apps_dir/synthetic/val" --targets lfw --device cuda --embedding-size 64 --width-divisor 8 --image-size 32
fi

bench="$build_dir/apps/bench"
torch_ok=0
torch_reason=""
bench_skip_reason=""
[[ "$bench_device" == cuda* ]] && bench_skip_reason="$no_gpu_reason"
if [[ -n "$bench_skip_reason" ]]; then
  add_row "GPU benchmarks" SKIP 0 "$bench_skip_reason"
elif ! loadable "$bench"; then
  add_row "GPU benchmarks (FaceFlow)" FAIL 0 "apps/bench not built or not loadable: missing $(missing_libs "$bench")"
else
  if [[ "$bench_device" == cuda* ]] && "$bench" --help 2>&1 | grep -E -- '--only' | grep -qw gpu; then
    run_bench "bench --only gpu" 60 "$out_dir/bench_gpu.md" "$bench" --only gpu
  fi
  # Estimated on an H200 (docs/benchmarks.md): r100 ~100 s for three precisions, mbf ~45 s.
  for net in $networks; do
    limit=$([[ $net == r100 ]] && echo 130 || echo 60)
    run_bench "train step $net (FaceFlow)" "$limit" "$out_dir/bench_train_$net.md" "$bench" --only train \
      --device "$bench_device" --network "$net" --precision "$precisions" --batch "$batch" --classes "$classes" \
      --warmup "$warmup" --iters "$iters"
  done
fi
if [[ -z "$bench_skip_reason" ]]; then
  probe="import torch"
  [[ "$bench_device" == cuda* ]] && probe="$probe; assert torch.cuda.is_available(), 'torch sees no GPU'"
  if timeout 90 python3 -c "$probe" >"$out_dir/torch_probe.log" 2>&1; then
    torch_ok=1
  else
    torch_reason="PyTorch unusable: $(tail -n 1 "$out_dir/torch_probe.log")"
    add_row "train step (PyTorch)" SKIP 0 "$torch_reason"
  fi
fi
if ((torch_ok)); then
  for net in $networks; do
    limit=$([[ $net == r100 ]] && echo 90 || echo 60)
    run_bench "train step $net (PyTorch)" "$limit" "$out_dir/bench_torch_$net.md" env PYTHONUNBUFFERED=1 python3 \
      "$root/scripts/bench_torch_step.py" --device "$bench_device" --network "$net" --precision "$precisions" \
      --batch "$batch" --classes "$classes" --warmup "$warmup" --iters "$iters"
  done
fi

# ---- 4. FaceFlow vs PyTorch, then the summary (last) --------------------------------------------------
# Both benches print "| framework | network | precision | batch | ms/step | images/s | wall | TFLOP/s |
# peak allocated MiB | peak reserved MiB | loss |" rows (apps/bench/train_step_bench.h).
shopt -s nullglob
bench_logs=("$out_dir"/bench_train_*.md "$out_dir"/bench_torch_*.md)
if ((${#bench_logs[@]})); then
  echo
  echo "## Training step, batch $batch, $classes classes (${gpu_name:-$bench_device}): images/s (median step) and peak allocated MiB"
  echo
  echo "| network | precision | FaceFlow img/s | PyTorch img/s | FaceFlow / PyTorch | FaceFlow peak MiB | PyTorch peak MiB |"
  echo "|---|---|---|---|---|---|---|"
  awk -F'|' '
    function trim(s) { gsub(/^ +| +$/, "", s); return s }
    $2 ~ /^ (faceflow|pytorch) $/ {
      fw = trim($2); key = trim($3) "|" trim($4)
      if (!(key in seen)) { seen[key] = 1; order[n++] = key }
      ips[fw, key] = trim($7); mem[fw, key] = trim($10)
      if (trim($6) ~ /^FAILED/) { ips[fw, key] = "failed"; mem[fw, key] = "" }
    }
    END {
      for (i = 0; i < n; i++) {
        k = order[i]; split(k, p, "|")
        f = ((("faceflow", k) in ips) ? ips["faceflow", k] : "-"); t = ((("pytorch", k) in ips) ? ips["pytorch", k] : "-")
        ratio = (f + 0 > 0 && t + 0 > 0) ? sprintf("%.2f", f / t) : "-"
        fm = ((("faceflow", k) in mem) ? mem["faceflow", k] : "-"); tm = ((("pytorch", k) in mem) ? mem["pytorch", k] : "-")
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], f, t, ratio, fm, tm
      }
    }' "${bench_logs[@]}"
fi

echo
echo "## GPU check summary (${gpu_name:-$no_gpu_reason}; $((SECONDS - start)) s)"
echo
echo "| step | status | seconds | details |"
echo "|---|---|---|---|"
for r in "${rows[@]}"; do
  IFS='|' read -r s st sec d <<<"$r"
  echo "| $s | $st | $sec | $d |"
done
exit "$failed"
