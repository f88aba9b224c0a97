// CUDA kernels of index_select, gather, scatter_add and one_hot (semantics in index.h).
//
// Range checks: before touching memory, a small kernel scans the index tensor and records the
// row-major position of the first value outside [0, limit) with atomicMin in a device word;
// the host reads it back (this synchronises the stream once per call) and throws the same
// ff::Error as the CPU kernel, naming the op, the value, its position and the valid range.
// The main kernels also skip out-of-range values, so no stray access is possible either way.
//
// scatter_add: positions of `index` that differ outside `dim` write different elements of
// out, so one thread per such "slice" walks its slice along `dim` in order. That is race-free
// and deterministic, with the CPU's addition order (bit-identical results). When there are few
// slices and long ones (e.g. a 1-D scatter) that leaves the GPU idle, so the kernel switches to
// one thread per index element with atomicAdd: the order of additions to one element, and so
// the float rounding, then varies from run to run. FF_CUDA_DETERMINISTIC=1 (or
// ff::cuda::set_deterministic(true)), or the GPU math switch ff::gpu::deterministic_algorithms()
// (FF_CUDNN_DETERMINISTIC=1), always takes the deterministic path.
#include <cstring>
#include <optional>
#include <string>

#include "framework/cuda/caching_allocator.h"
#include "framework/dispatch/registry.h"
#include "ops/common/cuda_loops.cuh"
#include "ops/common/gpu_math_config.h"
#include "ops/index/index.h"

namespace ff {
namespace {

using cuda::dacc_t;
using cuda::device_t;
using cuda::Indexer;

// f(offsets, linear index) for every element of `shape`.
template <int N, typename F>
__global__ void __launch_bounds__(cuda::kThreadsPerBlock) indexed_kernel(int64_t n, Indexer<N> ix, F f) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[N];
    ix.get(i, off);
    f(off, i);
  }
}

template <int N, typename F>
void launch_indexed(int device, const Shape& shape, const std::array<Strides, N>& strides, const F& f, const char* op) {
  const int64_t n = shape_numel(shape);
  if (n == 0) return;
  const Indexer<N> ix = cuda::make_indexer<N>(shape, strides, op);
  cuda::DeviceGuard guard(device);
  indexed_kernel<N, F><<<cuda::grid_for(n, device), cuda::kThreadsPerBlock, 0, cuda::current_stream(device)>>>(n, ix, f);
  FF_CUDA_CHECK_LAUNCH();
}

// ---- range checks -------------------------------------------------------------------------------
template <typename I>
struct FindBadFn {
  const I* index;
  int64_t limit;
  unsigned long long* first_bad;
  __device__ __forceinline__ void operator()(const int64_t (&off)[1], int64_t i) const {
    const int64_t v = static_cast<int64_t>(index[off[0]]);
    if (v < 0 || v >= limit) atomicMin(first_bad, static_cast<unsigned long long>(i));
  }
};

struct BadIndex {
  int64_t position;  // row-major, in the index tensor
  int64_t value;
};

template <typename I>
std::optional<BadIndex> find_bad_index(const Tensor& index, int64_t limit, const char* op) {
  if (index.numel() == 0) return std::nullopt;
  const int device = index.device().index;
  cuda::DeviceGuard guard(device);
  const cudaStream_t stream = cuda::current_stream(device);
  DataPtr flag = cuda::cuda_allocate(sizeof(unsigned long long), device, stream);
  auto* first_bad = static_cast<unsigned long long*>(flag.get());
  FF_CUDA_CHECK(cudaMemsetAsync(first_bad, 0xff, sizeof(unsigned long long), stream));
  launch_indexed<1>(device, index.sizes(), {index.strides()}, FindBadFn<I>{static_cast<const I*>(index.raw_data()), limit, first_bad}, op);
  unsigned long long host = 0;
  FF_CUDA_CHECK(cudaMemcpyAsync(&host, first_bad, sizeof host, cudaMemcpyDeviceToHost, stream));
  FF_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (host == ~0ull) return std::nullopt;
  // Error path: fetch the offending value.
  const auto position = static_cast<int64_t>(host);
  int64_t offset = 0;
  for (int64_t k = index.dim() - 1, r = position; k >= 0; --k) {
    offset += (r % index.size(k)) * index.stride(k);
    r /= index.size(k);
  }
  I value{};
  FF_CUDA_CHECK(cudaMemcpyAsync(&value, static_cast<const I*>(index.raw_data()) + offset, sizeof(I),
                                cudaMemcpyDeviceToHost, stream));
  FF_CUDA_CHECK(cudaStreamSynchronize(stream));
  return BadIndex{position, static_cast<int64_t>(value)};
}

std::string position_str(const Shape& shape, int64_t linear) {
  Shape pos(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    pos[k] = linear % shape[k];
    linear /= shape[k];
  }
  return shape_str(pos);
}

const char* negative_note(int64_t value) { return value < 0 ? "; negative indices are not supported" : ""; }

// Throws the CPU kernel's message for index/gather/scatter ops when `index` has a bad value.
template <typename I>
void check_index(const Tensor& index, int64_t dim, const Tensor& x, const char* op) {
  if (const auto bad = find_bad_index<I>(index, x.size(dim), op)) {
    FF_THROW("{}: index {} at position {} of index {} is out of range for dim {} of x {} (valid range [0, {})){}", op,
             bad->value, position_str(index.sizes(), bad->position), index.describe(), dim, x.describe(), x.size(dim),
             negative_note(bad->value));
  }
}

// ---- index_select / gather -----------------------------------------------------------------------
// out[p] = x[p with coordinate `dim` replaced by index[p]]; the index is laid over out's shape.
template <typename T, typename I>
struct GatherFn {
  T* out;
  const I* index;
  const T* x;
  int64_t x_dim_stride;
  int64_t limit;
  __device__ __forceinline__ void operator()(const int64_t (&off)[3], int64_t) const {
    const int64_t v = static_cast<int64_t>(index[off[1]]);
    if (v >= 0 && v < limit) out[off[0]] = x[off[2] + v * x_dim_stride];
  }
};

template <typename I>
void gather_along_dim(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index, const Strides& index_strides,
                      const char* op) {
  Strides x_strides = x.strides();
  const int64_t x_dim_stride = x_strides[dim];
  x_strides[dim] = 0;  // the coordinate along dim comes from the index
  FF_DISPATCH_ALL(x.dtype(), op, [&] {
    using T = device_t<scalar_t>;
    const GatherFn<T, I> f{static_cast<T*>(out.raw_data()), static_cast<const I*>(index.raw_data()),
                           static_cast<const T*>(x.raw_data()), x_dim_stride, x.size(dim)};
    launch_indexed<3>(out.device().index, out.sizes(), {out.strides(), index_strides, x_strides}, f, op);
  });
}

void index_select_cuda(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  FF_DISPATCH_INDEX(index.dtype(), "index_select", [&] {
    using I = scalar_t;
    check_index<I>(index, dim, x, "index_select");
    Strides spread(out.dim(), 0);  // the 1-D index laid over out's shape
    spread[dim] = index.stride(0);
    gather_along_dim<I>(out, x, dim, index, spread, "index_select");
  });
}

void gather_cuda(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  FF_DISPATCH_INDEX(index.dtype(), "gather", [&] {
    using I = scalar_t;
    check_index<I>(index, dim, x, "gather");
    gather_along_dim<I>(out, x, dim, index, index.strides(), "gather");
  });
}

// ---- scatter_add ----------------------------------------------------------------------------------
template <typename T>
__device__ __forceinline__ void atomic_add(T* p, T v) {
  atomicAdd(p, v);  // float, double, __half (sm_70+), __nv_bfloat16 (sm_80+), int32
}
template <>
__device__ __forceinline__ void atomic_add<int64_t>(int64_t* p, int64_t v) {
  // Two's complement: an unsigned 64-bit add is the signed add.
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}
template <>
__device__ __forceinline__ void atomic_add<uint8_t>(uint8_t* p, uint8_t v) {
  // No byte atomics: compare-and-swap the aligned 32-bit word holding the byte.
  auto* word = reinterpret_cast<unsigned int*>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t{3});
  const unsigned shift = static_cast<unsigned>(reinterpret_cast<uintptr_t>(p) & 3u) * 8u;
  unsigned old = *word, assumed;
  do {
    assumed = old;
    const unsigned byte = ((assumed >> shift) + v) & 0xffu;
    old = atomicCAS(word, assumed, (assumed & ~(0xffu << shift)) | (byte << shift));
  } while (old != assumed);
}

// One thread per index element: out[.., index[p], ..] += src[p] with atomics.
template <typename T, typename I>
struct ScatterAtomicFn {
  T* out;
  const I* index;
  const T* src;
  int64_t out_dim_stride, limit;
  __device__ __forceinline__ void operator()(const int64_t (&off)[3], int64_t) const {
    const int64_t v = static_cast<int64_t>(index[off[1]]);
    if (v >= 0 && v < limit) atomic_add(out + off[0] + v * out_dim_stride, src[off[2]]);
  }
};

// One thread per slice (index position with coordinate `dim` = 0), walking the slice in order.
template <typename T, typename I>
struct ScatterSliceFn {
  T* out;
  const I* index;
  const T* src;
  int64_t out_dim_stride, idx_dim_stride, src_dim_stride, length, limit;
  __device__ __forceinline__ void operator()(const int64_t (&off)[3], int64_t) const {
    for (int64_t k = 0; k < length; ++k) {
      const int64_t v = static_cast<int64_t>(index[off[1] + k * idx_dim_stride]);
      if (v < 0 || v >= limit) continue;
      T& dst = out[off[0] + v * out_dim_stride];
      dst = cuda::from_acc<T>(cuda::to_acc(dst) + cuda::to_acc(src[off[2] + k * src_dim_stride]));
    }
  }
};

void scatter_add_cuda(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  FF_DISPATCH_INDEX(index.dtype(), "scatter_add", [&] {
    using I = scalar_t;
    check_index<I>(index, dim, out, "scatter_add");
    const int64_t length = index.size(dim);
    Shape slices = index.sizes();
    slices[dim] = 1;
    const int64_t num_slices = shape_numel(slices);
    const bool sliced = cuda::deterministic() || gpu::deterministic_algorithms() || num_slices >= 1024 || length <= 64;
    Strides out_strides = out.strides();
    const int64_t out_dim_stride = out_strides[dim];
    out_strides[dim] = 0;
    FF_DISPATCH_ALL(out.dtype(), "scatter_add", [&] {
      if constexpr (std::is_same_v<scalar_t, bool>) {
        FF_THROW("scatter_add: not supported for bool tensors");
      } else {
        using T = device_t<scalar_t>;
        T* o = static_cast<T*>(out.raw_data());
        const I* ip = static_cast<const I*>(index.raw_data());
        const T* sp = static_cast<const T*>(src.raw_data());
        const int device = out.device().index;
        if (sliced) {
          const ScatterSliceFn<T, I> f{o, ip, sp, out_dim_stride, index.stride(dim), src.stride(dim), length, out.size(dim)};
          launch_indexed<3>(device, slices, {out_strides, index.strides(), src.strides()}, f, "scatter_add");
        } else {
          const ScatterAtomicFn<T, I> f{o, ip, sp, out_dim_stride, out.size(dim)};
          launch_indexed<3>(device, index.sizes(), {out_strides, index.strides(), src.strides()}, f, "scatter_add");
        }
      }
    });
  });
}

// ---- one_hot ----------------------------------------------------------------------------------------
template <typename T, typename I>
struct OneHotFn {
  T* out;
  const I* labels;
  int64_t num_classes;
  T one;
  __device__ __forceinline__ void operator()(const int64_t (&off)[1], int64_t i) const {
    const int64_t c = static_cast<int64_t>(labels[off[0]]);
    if (c >= 0 && c < num_classes) out[i * num_classes + c] = one;  // row i belongs to label i alone
  }
};

void one_hot_cuda(const Tensor& out, const Tensor& labels) {
  FF_ASSERT(out.is_contiguous(), "one_hot: output {} must be contiguous", out.describe());
  const int64_t num_classes = out.size(-1);
  FF_DISPATCH_INDEX(labels.dtype(), "one_hot", [&] {
    using I = scalar_t;
    if (const auto bad = find_bad_index<I>(labels, num_classes, "one_hot")) {
      FF_THROW("one_hot: label {} at position {} of labels {} is out of range for num_classes {} "
               "(valid labels [0, {})){}",
               bad->value, position_str(labels.sizes(), bad->position), labels.describe(), num_classes, num_classes,
               negative_note(bad->value));
    }
    if (out.numel() == 0) return;
    const int device = out.device().index;
    {
      cuda::DeviceGuard guard(device);
      FF_CUDA_CHECK(cudaMemsetAsync(out.raw_data(), 0, static_cast<size_t>(out.numel()) * out.element_size(),
                                    cuda::current_stream(device)));
    }
    FF_DISPATCH_ALL(out.dtype(), "one_hot", [&] {
      using T = device_t<scalar_t>;
      const scalar_t host_one = static_cast<scalar_t>(static_cast<acc_t<scalar_t>>(1));
      T one;
      static_assert(sizeof(T) == sizeof(scalar_t), "device and host element types differ in size");
      std::memcpy(&one, &host_one, sizeof one);
      const OneHotFn<T, I> f{static_cast<T*>(out.raw_data()), static_cast<const I*>(labels.raw_data()), num_classes, one};
      launch_indexed<1>(device, labels.sizes(), {labels.strides()}, f, "one_hot");
    });
  });
}

}  // namespace

FF_REGISTER_KERNEL(index_select, CUDA, dispatch::kAllTypes, &index_select_cuda);
FF_REGISTER_KERNEL(gather, CUDA, dispatch::kAllTypes, &gather_cuda);
FF_REGISTER_KERNEL(scatter_add, CUDA, dispatch::kNumericTypes, &scatter_add_cuda);
FF_REGISTER_KERNEL(one_hot, CUDA, dispatch::kAllTypes, &one_hot_cuda);

}  // namespace ff
