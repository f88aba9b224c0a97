// CUDA kernels of conv2d, conv2d_backward_input and conv2d_backward_weight, on cuDNN's
// convolution API (NCHW, any groups: depthwise is groups == C_in == C_out).
//
// Precision: fp16 and bf16 tensors convolve on tensor cores with fp32 accumulation
// (compute type FLOAT, CUDNN_TENSOR_OP_MATH); fp32 uses CUDNN_FMA_MATH (IEEE fp32) unless
// ff::gpu::allow_tf32(); fp64 computes in double.
//
// Algorithms: chosen once per (device, dtype, direction, shapes, parameters, mode) and cached
// (see ops/conv/conv2d_cuda.h). Normally cudnnFind*AlgorithmEx times every algorithm on the
// real buffers with a workspace as large as the hungriest algorithm asks for (capped at
// kMaxFindWorkspace) and the fastest one that succeeded wins. In deterministic mode
// (ff::gpu::deterministic_algorithms(), env FF_CUDNN_DETERMINISTIC=1, or the runtime-wide
// ff::cuda::deterministic(), env FF_CUDA_DETERMINISTIC=1) the choice comes from
// cudnnGet*Algorithm_v7's heuristic ranking, restricted to algorithms cuDNN reports as
// deterministic (and never the atomics-based BWD_DATA_ALGO_0 / BWD_FILTER_ALGO_0 / _3), so the
// same shape always gets the same algorithm and the same bits, also in a new process.
//
// Workspaces are tensors from the caching allocator, released as soon as the call is queued
// (the allocator reuses blocks in stream order). The bias is added by a small kernel after the
// convolution. Outputs are overwritten (beta = 0).
#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "framework/dispatch/registry.h"
#include "ops/common/gpu_math_config.h"
#include "ops/common/nn_cuda_utils.cuh"
#include "ops/conv/conv2d.h"
#include "ops/conv/conv2d_cuda.h"

namespace ff {
namespace {

using namespace cuda_nn;

constexpr size_t kMaxFindWorkspace = size_t{1} << 30;  // 1 GiB for timing the algorithms
constexpr size_t kMaxRunWorkspace = size_t{4} << 30;   // refuse choices needing more than this

enum class Dir : int { Forward = 0, BackwardData = 1, BackwardFilter = 2 };
const char* dir_name(Dir d) {
  switch (d) {
    case Dir::Forward: return "conv2d";
    case Dir::BackwardData: return "conv2d_backward_input";
    case Dir::BackwardFilter: return "conv2d_backward_weight";
  }
  return "conv2d";
}

cudnnDataType_t data_type(DType t) {
  switch (t) {
    case DType::Float32: return CUDNN_DATA_FLOAT;
    case DType::Float64: return CUDNN_DATA_DOUBLE;
    case DType::Float16: return CUDNN_DATA_HALF;
    case DType::BFloat16: return CUDNN_DATA_BFLOAT16;
    default: FF_THROW("conv2d: cuDNN kernel does not support dtype {}", dtype_name(t));
  }
}

// fp32 strict mode: the descriptor is pinned to FMA math whatever cudnnFind reports.
bool strict_fp32(DType t) { return t == DType::Float32 && !gpu::allow_tf32(); }

// Deterministic algorithms when asked for either way: the cuDNN switch (FF_CUDNN_DETERMINISTIC /
// gpu::set_deterministic_algorithms) or the runtime's global one (FF_CUDA_DETERMINISTIC /
// cuda::set_deterministic), which makes every CUDA kernel avoid float atomics.
bool deterministic_mode() { return gpu::deterministic_algorithms() || cuda::deterministic(); }

cudnnMathType_t initial_math(DType t) {
  if (t == DType::Float16 || t == DType::BFloat16) return CUDNN_TENSOR_OP_MATH;
  if (strict_fp32(t)) return CUDNN_FMA_MATH;
  return CUDNN_DEFAULT_MATH;  // fp32 with TF32 allowed; fp64 (no tensor-op path)
}

int to_int(int64_t v, const char* what, const Tensor& t) {
  FF_CHECK(v >= 0 && v <= INT_MAX, "conv2d: {} of {} is {}, beyond what cuDNN's descriptors hold (2^31 - 1)", what,
           t.describe(), v);
  return static_cast<int>(v);
}

// ---- descriptors (RAII, so a throwing setter cannot leak the others) ----------------------------------------
template <typename Handle, cudnnStatus_t (*Create)(Handle*), cudnnStatus_t (*Destroy)(Handle)>
struct CudnnDescriptor {
  Handle d = nullptr;
  CudnnDescriptor() { FF_CUDNN_CHECK(Create(&d)); }
  ~CudnnDescriptor() { Destroy(d); }  // destroying a valid descriptor cannot fail
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
};
using TensorDesc =
    CudnnDescriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDesc =
    CudnnDescriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvDesc = CudnnDescriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                                 cudnnDestroyConvolutionDescriptor>;

// Activations x / y: dense NCHW.
void set_activation(TensorDesc& desc, const Tensor& t, cudnnDataType_t type) {
  FF_CUDNN_CHECK(cudnnSetTensor4dDescriptor(desc.d, CUDNN_TENSOR_NCHW, type, to_int(t.size(0), "N", t),
                                            to_int(t.size(1), "C", t), to_int(t.size(2), "H", t),
                                            to_int(t.size(3), "W", t)));
}

// x [N, C, H, W], w [K, C / groups, kH, kW], y [N, K, Ho, Wo] (y is grad_out for the backwards).
struct Descs {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  DType dtype;

  Descs(const Tensor& xt, const Tensor& wt, const Tensor& yt, const Conv2dParams& p) : dtype(xt.dtype()) {
    for (const Tensor* t : {&xt, &yt, &wt}) to_int(t->numel(), "the element count", *t);
    const cudnnDataType_t type = data_type(dtype);
    set_activation(x, xt, type);
    set_activation(y, yt, type);
    FF_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w.d, type, CUDNN_TENSOR_NCHW, to_int(wt.size(0), "K", wt),
                                              to_int(wt.size(1), "C / groups", wt), to_int(wt.size(2), "kH", wt),
                                              to_int(wt.size(3), "kW", wt)));
    const cudnnDataType_t compute = dtype == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    FF_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
        conv.d, to_int(p.padding[0], "padding", xt), to_int(p.padding[1], "padding", xt),
        to_int(p.stride[0], "stride", xt), to_int(p.stride[1], "stride", xt), to_int(p.dilation[0], "dilation", xt),
        to_int(p.dilation[1], "dilation", xt), CUDNN_CROSS_CORRELATION, compute));
    FF_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv.d, to_int(p.groups, "groups", xt)));
    FF_CUDNN_CHECK(cudnnSetConvolutionMathType(conv.d, initial_math(dtype)));
  }
};

// ---- algorithm search -------------------------------------------------------------------------------------
struct Perf {
  int algo = 0;
  cudnnStatus_t status = CUDNN_STATUS_NOT_SUPPORTED;
  size_t memory = 0;
  cudnnDeterminism_t determinism = CUDNN_NON_DETERMINISTIC;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

template <typename P>
Perf to_perf(const P& p) {
  Perf r;
  r.algo = static_cast<int>(p.algo);
  r.status = p.status;
  r.memory = p.memory;
  r.determinism = p.determinism;
  r.math = p.mathType;
  return r;
}

int algo_count(Dir dir) {
  switch (dir) {
    case Dir::Forward: return CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
    case Dir::BackwardData: return CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
    case Dir::BackwardFilter: return CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  }
  return 0;
}

// Algorithms that accumulate with atomics (cuDNN documents them as non-deterministic).
bool known_nondeterministic(Dir dir, int algo) {
  if (dir == Dir::BackwardData) return algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
  if (dir == Dir::BackwardFilter) {
    return algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
  }
  return false;
}

// Workspace bytes `algo` needs with the descriptor's current math type; false if cuDNN refuses.
bool workspace_size(Dir dir, cudnnHandle_t h, const Descs& d, int algo, size_t* bytes) {
  cudnnStatus_t st = CUDNN_STATUS_NOT_SUPPORTED;
  switch (dir) {
    case Dir::Forward:
      st = cudnnGetConvolutionForwardWorkspaceSize(h, d.x.d, d.w.d, d.conv.d, d.y.d,
                                                   static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
      break;
    case Dir::BackwardData:
      st = cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w.d, d.y.d, d.conv.d, d.x.d,
                                                        static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
      break;
    case Dir::BackwardFilter:
      st = cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x.d, d.y.d, d.conv.d, d.w.d,
                                                          static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), bytes);
      break;
  }
  return st == CUDNN_STATUS_SUCCESS;
}

// The three buffers of a call: x, w, y (y = grad_out in the backwards); the one being computed
// (y, x or w) is overwritten while timing.
struct Buffers {
  void* x;
  void* w;
  void* y;
};

std::vector<Perf> heuristic_perfs(Dir dir, cudnnHandle_t h, const Descs& d) {
  const int n = algo_count(dir);
  int returned = 0;
  std::vector<Perf> out;
  switch (dir) {
    case Dir::Forward: {
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(n);
      FF_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.d, d.w.d, d.conv.d, d.y.d, n, &returned, perf.data()));
      for (int i = 0; i < returned; ++i) out.push_back(to_perf(perf[i]));
      break;
    }
    case Dir::BackwardData: {
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(n);
      FF_CUDNN_CHECK(
          cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w.d, d.y.d, d.conv.d, d.x.d, n, &returned, perf.data()));
      for (int i = 0; i < returned; ++i) out.push_back(to_perf(perf[i]));
      break;
    }
    case Dir::BackwardFilter: {
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(n);
      FF_CUDNN_CHECK(
          cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x.d, d.y.d, d.conv.d, d.w.d, n, &returned, perf.data()));
      for (int i = 0; i < returned; ++i) out.push_back(to_perf(perf[i]));
      break;
    }
  }
  // The heuristic's `memory` may be unset; ask for each algorithm's real workspace.
  for (Perf& p : out) {
    size_t bytes = 0;
    if (p.status == CUDNN_STATUS_SUCCESS && workspace_size(dir, h, d, p.algo, &bytes)) p.memory = bytes;
  }
  return out;
}

std::vector<Perf> find_perfs(Dir dir, cudnnHandle_t h, const Descs& d, const Buffers& b, void* ws, size_t ws_bytes) {
  const int n = algo_count(dir);
  int returned = 0;
  std::vector<Perf> out;
  switch (dir) {
    case Dir::Forward: {
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(n);
      FF_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, d.x.d, b.x, d.w.d, b.w, d.conv.d, d.y.d, b.y, n,
                                                            &returned, perf.data(), ws, ws_bytes));
      for (int i = 0; i < returned; ++i) out.push_back(to_perf(perf[i]));
      break;
    }
    case Dir::BackwardData: {
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(n);
      FF_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w.d, b.w, d.y.d, b.y, d.conv.d, d.x.d, b.x, n,
                                                                 &returned, perf.data(), ws, ws_bytes));
      for (int i = 0; i < returned; ++i) out.push_back(to_perf(perf[i]));
      break;
    }
    case Dir::BackwardFilter: {
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(n);
      FF_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, d.x.d, b.x, d.y.d, b.y, d.conv.d, d.w.d, b.w, n,
                                                                   &returned, perf.data(), ws, ws_bytes));
      for (int i = 0; i < returned; ++i) out.push_back(to_perf(perf[i]));
      break;
    }
  }
  return out;
}

// A workspace of up to `bytes`, halving the request while the allocator refuses it.
Tensor find_workspace(size_t bytes, Device device, size_t* got) {
  while (true) {
    try {
      Tensor t = scratch(static_cast<int64_t>(bytes), DType::UInt8, device);
      *got = bytes;
      return t;
    } catch (const std::exception&) {
      if (bytes == 0) throw;
      bytes /= 2;
      if (bytes < (size_t{1} << 20)) bytes = 0;  // below 1 MiB: time only workspace-free algorithms
    }
  }
}

struct AlgoChoice {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

using AlgoKey = std::array<int64_t, 21>;

struct AlgoCache {
  std::mutex mutex;
  std::map<AlgoKey, AlgoChoice> entries;
  std::atomic<int64_t> hits{0}, misses{0};
};
AlgoCache& algo_cache() {
  static AlgoCache* cache = new AlgoCache();  // never destroyed: kernels may run during static teardown
  return *cache;
}

AlgoKey make_key(Dir dir, const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  return {static_cast<int64_t>(cuda::current_device()), static_cast<int64_t>(x.dtype()), static_cast<int64_t>(dir),
          x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3),
          p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.groups,
          deterministic_mode() ? 1 : 0, gpu::allow_tf32() ? 1 : 0, 0, 0};
}

std::string describe_perfs(const std::vector<Perf>& perfs) {
  std::string s;
  for (const Perf& p : perfs) {
    s += fmt::format("{}algo {}: {} ({} bytes{})", s.empty() ? "" : "; ", p.algo, cudnnGetErrorString(p.status),
                     p.memory, p.determinism == CUDNN_DETERMINISTIC ? ", deterministic" : "");
  }
  return s.empty() ? "none returned" : s;
}

// The algorithm for this call: from the cache, or searched for once and cached. Leaves the
// descriptor's math type set to the chosen one.
AlgoChoice choose_algo(Dir dir, const Descs& d, const Buffers& b, const Tensor& x, const Tensor& w,
                       const Conv2dParams& p) {
  AlgoCache& cache = algo_cache();
  const AlgoKey key = make_key(dir, x, w, p);
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto it = cache.entries.find(key);
    if (it != cache.entries.end()) {
      cache.hits.fetch_add(1, std::memory_order_relaxed);
      FF_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, it->second.math));
      return it->second;
    }
  }
  cache.misses.fetch_add(1, std::memory_order_relaxed);
  cudnnHandle_t h = cuda::cudnn_handle();
  const bool deterministic = deterministic_mode();
  std::vector<Perf> perfs;
  size_t ws_limit = kMaxRunWorkspace;
  if (deterministic) {
    perfs = heuristic_perfs(dir, h, d);
  } else {
    size_t wanted = 0;
    for (int a = 0; a < algo_count(dir); ++a) {
      size_t bytes = 0;
      if (workspace_size(dir, h, d, a, &bytes)) wanted = std::max(wanted, bytes);
    }
    Tensor ws = find_workspace(std::min(wanted, kMaxFindWorkspace), x.device(), &ws_limit);
    perfs = find_perfs(dir, h, d, b, ws_limit ? ws.raw_data() : nullptr, ws_limit);
  }
  // Results come sorted best first (fastest for Find, most promising for the heuristic).
  const Perf* pick = nullptr;
  for (const Perf& perf : perfs) {
    if (perf.status != CUDNN_STATUS_SUCCESS || perf.memory > ws_limit) continue;
    if (deterministic && (perf.determinism != CUDNN_DETERMINISTIC || known_nondeterministic(dir, perf.algo))) continue;
    pick = &perf;
    break;
  }
  FF_CHECK(pick != nullptr,
           "{}: cuDNN offers no usable {}algorithm for input {}, weight {}, stride [{}, {}], padding [{}, {}], "
           "dilation [{}, {}], groups {} (candidates: {})",
           dir_name(dir), deterministic ? "deterministic " : "", x.describe(), w.describe(), p.stride[0], p.stride[1],
           p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.groups, describe_perfs(perfs));
  AlgoChoice choice;
  choice.algo = pick->algo;
  choice.math = strict_fp32(d.dtype) ? CUDNN_FMA_MATH : pick->math;
  FF_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, choice.math));
  // Find's `memory` can be below what the run asks for under the final math type: take the larger.
  size_t bytes = 0;
  choice.workspace = workspace_size(dir, h, d, choice.algo, &bytes) ? std::max(bytes, pick->memory) : pick->memory;
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.entries.emplace(key, choice);  // a concurrent search of the same key keeps the first result
  return choice;
}

// ---- kernels ----------------------------------------------------------------------------------------------
template <typename T>
__global__ void add_channel_bias_kernel(T* __restrict__ y, const T* __restrict__ bias, int64_t total, int64_t hw,
                                        int64_t channels) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = (i / hw) % channels;
    y[i] = from_acc<T>(to_acc(y[i]) + to_acc(bias[c]));
  }
}

void add_bias(const Tensor& out, const Tensor& bias) {
  const int64_t total = out.numel(), hw = out.size(2) * out.size(3), channels = out.size(1);
  if (total == 0) return;
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(out.dtype(), "conv2d", [&] {
    add_channel_bias_kernel<scalar_t><<<grid_for(total), kThreads, 0, stream>>>(ptr<scalar_t>(out),
                                                                                ptr<scalar_t>(bias), total, hw, channels);
    FF_CUDA_CHECK_LAUNCH();
  });
}

void zero_fill(const Tensor& t) {
  if (t.numel() == 0) return;
  // All-zero bytes are +0.0 in every floating format.
  FF_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, static_cast<size_t>(t.numel()) * t.element_size(),
                                cuda::current_stream()));
}

// alpha = 1, beta = 0 in the scaling type cuDNN expects (double for double data, else float).
struct Scaling {
  float f1 = 1.0f, f0 = 0.0f;
  double d1 = 1.0, d0 = 0.0;
  bool dbl;
  explicit Scaling(DType t) : dbl(t == DType::Float64) {}
  const void* one() const { return dbl ? static_cast<const void*>(&d1) : static_cast<const void*>(&f1); }
  const void* zero() const { return dbl ? static_cast<const void*>(&d0) : static_cast<const void*>(&f0); }
};

void conv2d_cuda(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  if (out.numel() == 0) return;
  if (x.numel() == 0 || w.numel() == 0) {  // no input terms: the output is the bias (or zero)
    zero_fill(out);
    if (bias.defined()) add_bias(out, bias);
    return;
  }
  const Descs d(x, w, out, p);
  const Buffers b{x.raw_data(), w.raw_data(), out.raw_data()};
  const AlgoChoice c = choose_algo(Dir::Forward, d, b, x, w, p);
  const Tensor ws = scratch(static_cast<int64_t>(c.workspace), DType::UInt8, out.device());
  const Scaling s(out.dtype());
  FF_CUDNN_CHECK(cudnnConvolutionForward(cuda::cudnn_handle(), s.one(), d.x.d, x.raw_data(), d.w.d, w.raw_data(),
                                         d.conv.d, static_cast<cudnnConvolutionFwdAlgo_t>(c.algo),
                                         c.workspace ? ws.raw_data() : nullptr, c.workspace, s.zero(), d.y.d,
                                         out.raw_data()));
  if (bias.defined()) add_bias(out, bias);
}

void conv2d_backward_input_cuda(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w, const Conv2dParams& p) {
  if (grad_x.numel() == 0) return;
  if (grad_out.numel() == 0 || w.numel() == 0) {
    zero_fill(grad_x);
    return;
  }
  const Descs d(grad_x, w, grad_out, p);
  const Buffers b{grad_x.raw_data(), w.raw_data(), grad_out.raw_data()};
  const AlgoChoice c = choose_algo(Dir::BackwardData, d, b, grad_x, w, p);
  const Tensor ws = scratch(static_cast<int64_t>(c.workspace), DType::UInt8, grad_x.device());
  const Scaling s(grad_x.dtype());
  FF_CUDNN_CHECK(cudnnConvolutionBackwardData(cuda::cudnn_handle(), s.one(), d.w.d, w.raw_data(), d.y.d,
                                              grad_out.raw_data(), d.conv.d,
                                              static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo),
                                              c.workspace ? ws.raw_data() : nullptr, c.workspace, s.zero(), d.x.d,
                                              grad_x.raw_data()));
}

void conv2d_backward_weight_cuda(const Tensor& grad_w, const Tensor& grad_out, const Tensor& x,
                                 const Conv2dParams& p) {
  if (grad_w.numel() == 0) return;
  if (grad_out.numel() == 0 || x.numel() == 0) {
    zero_fill(grad_w);
    return;
  }
  const Descs d(x, grad_w, grad_out, p);
  const Buffers b{x.raw_data(), grad_w.raw_data(), grad_out.raw_data()};
  const AlgoChoice c = choose_algo(Dir::BackwardFilter, d, b, x, grad_w, p);
  const Tensor ws = scratch(static_cast<int64_t>(c.workspace), DType::UInt8, grad_w.device());
  const Scaling s(grad_w.dtype());
  FF_CUDNN_CHECK(cudnnConvolutionBackwardFilter(cuda::cudnn_handle(), s.one(), d.x.d, x.raw_data(), d.y.d,
                                                grad_out.raw_data(), d.conv.d,
                                                static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo),
                                                c.workspace ? ws.raw_data() : nullptr, c.workspace, s.zero(), d.w.d,
                                                grad_w.raw_data()));
}

}  // namespace

namespace cuda_conv {

AlgoCacheStats algo_cache_stats() {
  AlgoCache& cache = algo_cache();
  AlgoCacheStats s;
  s.hits = cache.hits.load();
  s.misses = cache.misses.load();
  std::lock_guard<std::mutex> lock(cache.mutex);
  s.entries = static_cast<int64_t>(cache.entries.size());
  return s;
}

void clear_algo_cache() {
  AlgoCache& cache = algo_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.entries.clear();
  cache.hits = 0;
  cache.misses = 0;
}

}  // namespace cuda_conv

FF_REGISTER_KERNEL(conv2d, CUDA, dispatch::kFloatingTypes, &conv2d_cuda);
FF_REGISTER_KERNEL(conv2d_backward_input, CUDA, dispatch::kFloatingTypes, &conv2d_backward_input_cuda);
FF_REGISTER_KERNEL(conv2d_backward_weight, CUDA, dispatch::kFloatingTypes, &conv2d_backward_weight_cuda);

}  // namespace ff
