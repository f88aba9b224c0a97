#include "framework/core/parallel.h"

#include <omp.h>

#include "framework/common/check.h"

extern "C" void openblas_set_num_threads(int num_threads);  // from libopenblas

namespace ff {

namespace {
// OpenBLAS stays single-threaded: the CPU kernels split their GEMMs over OpenMP threads
// themselves (ops/linalg/cpu_blas.cpp). OpenBLAS's own pthreads would compete with OpenMP's
// spin-waiting workers between parallel regions; on 2 cores that made convs up to 5x slower.
const bool openblas_single_threaded = [] {
  openblas_set_num_threads(1);
  return true;
}();
}  // namespace

int get_num_threads() { return omp_get_max_threads(); }

void set_num_threads(int n) {
  FF_CHECK(n >= 1, "set_num_threads: need at least one thread, got {}", n);
  omp_set_num_threads(n);
  openblas_set_num_threads(1);  // see openblas_single_threaded
}

bool in_parallel_region() { return omp_in_parallel() != 0; }

namespace detail {
void parallel_for_impl(int64_t begin, int64_t end, int64_t grain, void (*body)(void*, int64_t, int64_t),
                       void* ctx) {
  const int64_t range = end - begin;
  const int64_t max_chunks = std::max<int64_t>(1, range / std::max<int64_t>(grain, 1));
  const int threads = static_cast<int>(std::min<int64_t>(get_num_threads(), max_chunks));
#pragma omp parallel num_threads(threads)
  {
    const int64_t tid = omp_get_thread_num();
    const int64_t nt = omp_get_num_threads();
    const int64_t chunk = (range + nt - 1) / nt;
    const int64_t b = begin + tid * chunk;
    const int64_t e = std::min(end, b + chunk);
    if (b < e) body(ctx, b, e);
  }
}
}  // namespace detail

}  // namespace ff
