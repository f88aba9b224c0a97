// Shared helpers for the CUDA kernels of the NN ops (matmul, conv, norms, softmax, activations,
// pooling, optimizer updates). Only included from .cu files.
//
//  * device_t<T>: the CUDA storage type of an ff storage type (ff::Half -> __half, ...);
//    acc_t_of<T>: its compute type (float for 16-bit types, like the CPU kernels' acc_t).
//  * to_acc / from_acc: loads widen, stores round to nearest even (what ff::Half does on CPU).
//  * StridedIndexer: row-major linear index -> element offset for tensors of any strides.
//  * block_reduce: a deterministic block-wide reduction (fixed order for a given block size).
//  * FF_CUDA_DISPATCH_FLOATING: binds scalar_t to the *device* type of a floating dtype.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "framework/core/tensor.h"
#include "framework/cuda/cuda_runtime.h"

namespace ff::cuda_nn {

// ---- types --------------------------------------------------------------------------------------------
template <typename T> struct DeviceTypeOf { using type = T; };
template <> struct DeviceTypeOf<Half> { using type = __half; };
template <> struct DeviceTypeOf<BFloat16> { using type = __nv_bfloat16; };
template <typename T> using device_t = typename DeviceTypeOf<T>::type;

template <typename T> struct AccOf { using type = T; };
template <> struct AccOf<__half> { using type = float; };
template <> struct AccOf<__nv_bfloat16> { using type = float; };
template <typename T> using acc_t_of = typename AccOf<T>::type;

__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }

template <typename T, typename A>
__device__ __forceinline__ T from_acc(A v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16_rn(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}

// -inf / +inf usable in device code (std::numeric_limits is host-only without relaxed constexpr).
template <typename A>
__device__ __forceinline__ A infinity() {
  if constexpr (std::is_same_v<A, double>) {
    return __longlong_as_double(0x7ff0000000000000LL);
  } else {
    return __int_as_float(0x7f800000);
  }
}

template <typename T>
inline T* ptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}
template <typename T>
inline T* ptr_or_null(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr;
}

// ---- launch geometry -------------------------------------------------------------------------------------
constexpr int kThreads = 256;
constexpr int64_t kMaxGrid = int64_t{1} << 16;  // grid-stride loops cover the rest

inline unsigned grid_for(int64_t n, int threads = kThreads) {
  return static_cast<unsigned>(std::clamp<int64_t>(cuda::ceil_div(n, threads), 1, kMaxGrid));
}

// Multiprocessor count of the current device (cached by the runtime).
inline int sm_count() { return cuda::multiprocessor_count(cuda::current_device()); }

// A scratch buffer from the caching allocator on `device`. Its memory returns to the cache when
// the Tensor dies; kernels already queued on current_stream() that use it still run first
// (the allocator hands blocks out again in stream order), so a scratch tensor may die as soon as
// the last launch using it has been queued.
inline Tensor scratch(int64_t count, DType dtype, Device device) {
  return Tensor::empty({std::max<int64_t>(count, 0)}, dtype, device);
}

// ---- strided access -----------------------------------------------------------------------------------
constexpr int kMaxDims = 10;

// Maps the row-major linear index of an element to its offset (in elements) in a strided tensor.
// Dims of size 1 are dropped and dims that are contiguous with the next one merged, so a
// contiguous tensor becomes one dim and most views two or three.
struct StridedIndexer {
  int ndim = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[kMaxDims];

  __device__ __forceinline__ int64_t offset(int64_t linear) const {
    int64_t off = 0;
    for (int d = ndim - 1; d > 0; --d) {
      const int64_t i = linear % sizes[d];
      linear /= sizes[d];
      off += i * strides[d];
    }
    return ndim > 0 ? off + linear * strides[0] : 0;
  }
};

inline StridedIndexer make_indexer(const Tensor& t) {
  StridedIndexer ix;
  int64_t sizes[64], strides[64];
  int n = 0;
  for (int64_t d = 0; d < t.dim(); ++d) {
    const int64_t size = t.size(d), stride = t.stride(d);
    if (size == 1) continue;
    if (n > 0 && strides[n - 1] == stride * size) {  // previous dim steps over exactly this one
      sizes[n - 1] *= size;
      strides[n - 1] = stride;
      continue;
    }
    FF_CHECK(n < 64, "CUDA kernel: tensor {} has too many dims", t.describe());
    sizes[n] = size;
    strides[n] = stride;
    ++n;
  }
  FF_CHECK(n <= kMaxDims, "CUDA kernel: tensor {} with strides {} needs {} dims after merging; at most {} supported",
           t.describe(), shape_str(t.strides()), n, kMaxDims);
  ix.ndim = n;
  for (int d = 0; d < n; ++d) {
    ix.sizes[d] = sizes[d];
    ix.strides[d] = strides[d];
  }
  return ix;
}

// ---- reductions -------------------------------------------------------------------------------------------
struct SumOp {
  template <typename A>
  __device__ __forceinline__ A operator()(A a, A b) const { return a + b; }
};
// Max that lets NaN win (once NaN, always NaN), as the norms need.
struct NanMaxOp {
  template <typename A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    if (a != a) return a;
    if (b != b) return b;
    return b > a ? b : a;
  }
};
// Max that ignores NaN unless everything is NaN (std::max(acc, v) with acc starting at -inf).
struct MaxOp {
  template <typename A>
  __device__ __forceinline__ A operator()(A a, A b) const { return b > a ? b : a; }
};

template <typename A, typename Op>
__device__ __forceinline__ A warp_reduce(A v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, offset));
  return v;
}

// Reduces one value per thread over the block; every thread gets the result. blockDim.x must be a
// multiple of 32 (at most 1024). The order of combination depends only on blockDim, so results
// are reproducible. May be called several times in one kernel.
template <typename A, typename Op>
__device__ A block_reduce(A v, Op op, A identity) {
  __shared__ A partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_reduce(v, op);
  __syncthreads();  // a previous call may still be reading partial[0]
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const int warps = static_cast<int>(blockDim.x + 31) >> 5;
    A w = lane < warps ? partial[lane] : identity;
    w = warp_reduce(w, op);
    if (lane == 0) partial[0] = w;
  }
  __syncthreads();
  return partial[0];
}

// int32 index math (faster division) when every index fits with room to spare: grid-stride
// loops may step up to kMaxGrid * 1024 past the end before they stop, which must not overflow.
inline bool fits_int32(int64_t n) { return n <= (int64_t{1} << 30); }

}  // namespace ff::cuda_nn

// Runs the generic lambda body with scalar_t bound to the CUDA storage type of `dtype`.
#define FF_CUDA_DISPATCH_FLOATING(dtype, op_name, ...)                                                   \
  [&] {                                                                                                 \
    switch (dtype) {                                                                                    \
      case ::ff::DType::Float32: {                                                                      \
        using scalar_t = float;                                                                         \
        return __VA_ARGS__();                                                                           \
      }                                                                                                 \
      case ::ff::DType::Float64: {                                                                      \
        using scalar_t = double;                                                                        \
        return __VA_ARGS__();                                                                           \
      }                                                                                                 \
      case ::ff::DType::Float16: {                                                                      \
        using scalar_t = __half;                                                                        \
        return __VA_ARGS__();                                                                           \
      }                                                                                                 \
      case ::ff::DType::BFloat16: {                                                                     \
        using scalar_t = __nv_bfloat16;                                                                 \
        return __VA_ARGS__();                                                                           \
      }                                                                                                 \
      default:                                                                                          \
        FF_THROW("{}: CUDA kernel does not support dtype {} (floating types only)", op_name,           \
                 ::ff::dtype_name(dtype));                                                              \
    }                                                                                                   \
  }()
