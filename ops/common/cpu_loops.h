// Strided element loops for CPU kernels.
//
// Every elementwise CPU kernel reduces to: walk the elements of an output shape, with one
// element-stride vector per operand (0 where an input is broadcast). cpu_strided_loop
// coalesces dimensions, splits the outer rows over threads and hands the kernel
// contiguous-or-strided inner runs, so kernels stay one-liners (see cpu_map).
#pragma once

#include <array>
#include <utility>
#include <cstdint>
#include <vector>

#include "framework/core/parallel.h"
#include "framework/core/tensor.h"

namespace ff::cpu {

// Calls body(offsets, n, inner_strides) for runs of `n` elements; offsets are in elements
// from each operand's base pointer. Threads split the outer rows.
template <size_t N, typename Body>
void cpu_strided_loop(const Shape& shape, const std::array<Strides, N>& strides, Body&& body) {
  const int64_t numel = shape_numel(shape);
  if (numel == 0) return;
  // Coalesce: drop size-1 dims, merge dims that are contiguous with their neighbour for all operands.
  Shape sizes;
  std::array<Strides, N> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !sizes.empty();
    for (size_t k = 0; k < N && merge; ++k) merge = st[k].back() == strides[k][d] * shape[d];
    if (merge) {
      sizes.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) st[k].back() = strides[k][d];
    } else {
      sizes.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) st[k].push_back(strides[k][d]);
    }
  }
  if (sizes.empty()) {  // a single element
    sizes.push_back(1);
    for (size_t k = 0; k < N; ++k) st[k].push_back(0);
  }
  const int64_t ndim = static_cast<int64_t>(sizes.size());
  const int64_t inner = sizes.back();
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = st[k].back();
  const int64_t rows = numel / inner;
  const int64_t grain_rows = std::max<int64_t>(1, kParallelGrain / inner);

  parallel_for(0, rows, grain_rows, [&](int64_t row_begin, int64_t row_end) {
    // Multi-index of the first row over dims [0, ndim-1).
    std::vector<int64_t> idx(ndim, 0);
    std::array<int64_t, N> off{};
    int64_t r = row_begin;
    for (int64_t d = ndim - 2; d >= 0; --d) {
      idx[d] = r % sizes[d];
      r /= sizes[d];
      for (size_t k = 0; k < N; ++k) off[k] += idx[d] * st[k][d];
    }
    for (int64_t row = row_begin; row < row_end; ++row) {
      body(off, inner, inner_strides);
      for (int64_t d = ndim - 2; d >= 0; --d) {  // increment the row counter
        ++idx[d];
        for (size_t k = 0; k < N; ++k) off[k] += st[k][d];
        if (idx[d] < sizes[d]) break;
        for (size_t k = 0; k < N; ++k) off[k] -= sizes[d] * st[k][d];
        idx[d] = 0;
      }
    }
  });
}

// Element strides of `t` viewed at shape `out_shape` with broadcasting (stride 0 for
// broadcast dims). `t` must broadcast to out_shape.
Strides broadcast_strides(const Tensor& t, const Shape& out_shape);

namespace detail {
template <typename Out, typename... In, typename F, size_t... I>
void cpu_map_run(Out* out, const std::array<const void*, sizeof...(In)>& in, const int64_t* off,
                 const int64_t* s, int64_t n, F& f, std::index_sequence<I...>) {
  const bool contiguous = s[0] == 1 && ((s[I + 1] == 1) && ... && true);
  if (contiguous) {  // the common case: a plain loop the compiler can vectorise
    Out* o = out + off[0];
    for (int64_t i = 0; i < n; ++i) o[i] = static_cast<Out>(f(static_cast<const In*>(in[I])[off[I + 1] + i]...));
  } else {
    for (int64_t i = 0; i < n; ++i) {
      out[off[0] + i * s[0]] =
          static_cast<Out>(f(static_cast<const In*>(in[I])[off[I + 1] + i * s[I + 1]]...));
    }
  }
}
}  // namespace detail

// out[i] = f(in0[i], in1[i], ...) with inputs broadcast to out's shape. The C++ element
// types are the template arguments (Out, In...); `f` receives In values and its result is
// converted to Out. `out` may be any strided tensor; it is written exactly once per element.
template <typename Out, typename... In, typename F>
void cpu_map(const Tensor& out, F f, const std::array<Tensor, sizeof...(In)>& inputs) {
  constexpr size_t N = sizeof...(In) + 1;
  std::array<Strides, N> strides;
  strides[0] = out.strides();
  std::array<const void*, sizeof...(In)> in_ptrs{};
  for (size_t k = 0; k < sizeof...(In); ++k) {
    strides[k + 1] = broadcast_strides(inputs[k], out.sizes());
    in_ptrs[k] = inputs[k].raw_data();
  }
  Out* out_ptr = static_cast<Out*>(out.raw_data());
  cpu_strided_loop<N>(out.sizes(), strides,
                      [&](const std::array<int64_t, N>& off, int64_t n, const std::array<int64_t, N>& s) {
                        detail::cpu_map_run<Out, In...>(out_ptr, in_ptrs, off.data(), s.data(), n, f,
                                                        std::index_sequence_for<In...>{});
                      });
}

}  // namespace ff::cpu
