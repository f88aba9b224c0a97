#!/usr/bin/env bash
# GPU check for a lent GPU machine: runs every CUDA test binary and the GPU benchmarks, then
# prints a summary table (last). Designed to finish in under 8 minutes.
#
#   scripts/gpu_check.sh                      # uses build/ (carried), builds it if unusable
#   FF_BUILD_DIR=build-h11 scripts/gpu_check.sh
#   FF_GPU_CHECK_OUT=/tmp/out scripts/gpu_check.sh   # where logs and XML reports go ($OUT if set)
#   FF_GPU_CHECK_FILTER='CudaReduce.*' scripts/gpu_check.sh   # a gtest filter for the test binaries
#
# Build: if the build directory has no loadable ff_*cuda*_tests binary (not carried, or built
# against libraries this machine lacks), it configures a Release build for sm_90 only, without
# MPI, and builds just the CUDA test binaries and apps/bench (under 4 minutes on 16 cores).
# Exit status: 0 when every step passed or was skipped, 1 otherwise.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${FF_BUILD_DIR:-$root/build}"
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac
out_dir="${FF_GPU_CHECK_OUT:-${OUT:-$build_dir/gpu_check}}"
filter="${FF_GPU_CHECK_FILTER:-*}"
mkdir -p "$out_dir"
export PATH="/usr/local/cuda/bin:$PATH"
# The binaries' RUNPATH names the directory they were built in; a carried build may live elsewhere.
export FF_CUDA_THROUGHPUT="${FF_CUDA_THROUGHPUT:-1}"  # tests/cuda/throughput_test.cpp prints GB/s tables
export LD_LIBRARY_PATH="$build_dir:$build_dir/models:$build_dir/data:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"

start=$SECONDS
rows=()   # summary rows: "step|status|seconds|details"
failed=0
add_row() { rows+=("$1|$2|$3|$4"); [[ "$2" == FAIL ]] && failed=1; return 0; }
log() { echo "[gpu_check $((SECONDS - start))s] $*"; }

# ---- 0. the device ---------------------------------------------------------------------------------
gpu_name="unknown"
if command -v nvidia-smi >/dev/null 2>&1; then
  gpu_name="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)"
  log "GPU: $gpu_name"
else
  log "nvidia-smi not found"
fi

# ---- 1. binaries -------------------------------------------------------------------------------------
loadable() {  # the binary exists and every shared library it needs resolves
  [[ -x "$1" ]] && ! ldd "$1" 2>/dev/null | grep -q "not found"
}
find_test_bins() { find "$build_dir/tests" -maxdepth 1 -type f -name 'ff_*cuda*_tests' 2>/dev/null | sort; }

mapfile -t test_bins < <(find_test_bins)
usable=1
((${#test_bins[@]})) || usable=0
for b in "${test_bins[@]}"; do loadable "$b" || usable=0; done
if ((usable)); then
  add_row build "carried" 0 "$build_dir"
else
  log "no loadable CUDA test binary in $build_dir: building (Release, sm_90, no MPI)"
  t0=$SECONDS
  launcher=()
  command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CUDA_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  if timeout 60 cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFF_WITH_CUDA=ON \
       -DCMAKE_CUDA_ARCHITECTURES=90 -DFF_WITH_MPI=OFF "${launcher[@]}" >"$out_dir/configure.log" 2>&1; then
    mapfile -t targets < <(ninja -C "$build_dir" -t targets all 2>/dev/null | grep -oE '^ff_[A-Za-z0-9_]*cuda[A-Za-z0-9_]*_tests' | sort -u)
    ninja -C "$build_dir" -t targets all 2>/dev/null | grep -qE '^bench:' && targets+=(bench)
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
  mapfile -t test_bins < <(find_test_bins)
fi

# ---- 2. CUDA tests -----------------------------------------------------------------------------------
for b in "${test_bins[@]}"; do
  name="$(basename "$b")"
  remaining=$((420 - (SECONDS - start)))
  if ((remaining < 30)); then
    add_row "$name" FAIL 0 "not run: time budget exhausted"
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
bench="$build_dir/apps/bench"
if ! loadable "$bench"; then
  add_row "bench --only gpu" SKIP 0 "apps/bench not built"
elif ! "$bench" --help 2>&1 | grep -qw gpu; then
  add_row "bench --only gpu" SKIP 0 "apps/bench has no GPU mode yet"
else
  remaining=$((460 - (SECONDS - start)))
  if ((remaining < 20)); then
    add_row "bench --only gpu" SKIP 0 "time budget exhausted"
  else
    log "running bench --only gpu (timeout ${remaining}s)"
    t0=$SECONDS
    if timeout "$remaining" "$bench" --only gpu >"$out_dir/bench_gpu.md" 2>&1; then
      add_row "bench --only gpu" PASS $((SECONDS - t0)) "tables in $out_dir/bench_gpu.md"
      cat "$out_dir/bench_gpu.md"
    else
      add_row "bench --only gpu" FAIL $((SECONDS - t0)) "exit $?; see $out_dir/bench_gpu.md"
      tail -n 20 "$out_dir/bench_gpu.md"
    fi
  fi
fi

# ---- 4. summary (last) -------------------------------------------------------------------------------
echo
echo "## GPU check summary ($gpu_name; $((SECONDS - start)) s)"
echo
echo "| step | status | seconds | details |"
echo "|---|---|---|---|"
for r in "${rows[@]}"; do
  IFS='|' read -r s st sec d <<<"$r"
  echo "| $s | $st | $sec | $d |"
done
exit "$failed"
