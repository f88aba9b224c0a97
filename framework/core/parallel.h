// Host-side parallelism for CPU kernels (OpenMP underneath).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace ff {

int get_num_threads();
void set_num_threads(int n);  // OpenMP threads; OpenBLAS is kept at 1 (GEMMs are split over ours)
bool in_parallel_region();

namespace detail {
void parallel_for_impl(int64_t begin, int64_t end, int64_t grain, void (*body)(void*, int64_t, int64_t),
                       void* ctx);
}

// Calls f(chunk_begin, chunk_end) over [begin, end) split into contiguous chunks. Runs inline
// (one chunk) when the range is smaller than `grain` or we are already inside a parallel region.
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& f) {
  if (end <= begin) return;
  if (end - begin <= grain || get_num_threads() == 1 || in_parallel_region()) {
    f(begin, end);
    return;
  }
  detail::parallel_for_impl(
      begin, end, grain,
      // F may be an lvalue (const) reference type: cast through the referenced type.
      [](void* ctx, int64_t b, int64_t e) { (*static_cast<std::remove_reference_t<F>*>(ctx))(b, e); },
      const_cast<void*>(static_cast<const void*>(&f)));
}

// Elements per chunk below which splitting work across threads costs more than it saves.
constexpr int64_t kParallelGrain = 32768;

}  // namespace ff
