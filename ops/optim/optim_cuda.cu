// CUDA kernels of the fused optimizer updates (sgd_update, adamw_update) and of the foreach ops
// used by gradient clipping and loss scaling (foreach_norm, foreach_scale_).
//
// Multi-tensor apply: a list of tensors is cut into chunks of kChunk elements, and one launch
// processes up to kMaxBlocks chunks drawn from up to kMaxTensors tensors; the tensors' addresses,
// sizes and per-tensor scalars travel in the kernel's parameter block (a __grid_constant__
// struct of a few KB; sm_70+ with CUDA >= 12.1 allows 32 KB). A model's few hundred parameters
// thus take a handful of launches instead of one per tensor.
//
// Contiguous tensors take that path. A parameter whose tensors are not all contiguous (any
// strides are allowed by the ops) is updated by a per-tensor kernel that addresses each operand
// through a strided indexer; the arithmetic is the same device function. foreach_norm reads a
// non-contiguous tensor through a contiguous copy, as the CPU kernel does.
//
// Arithmetic mirrors the CPU kernels operation for operation in acc_t (float for fp16/bf16);
// the per-tensor scalars (bias corrections, step sizes) are computed on the host in double and
// rounded once, exactly as there. foreach_norm accumulates in double: per-chunk partials, then
// one thread per tensor adds its partials in chunk order (no atomics: reproducible).
#include <cmath>
#include <vector>

#include "framework/dispatch/registry.h"
#include "ops/common/nn_cuda_utils.cuh"
#include "ops/optim/adamw_update.h"
#include "ops/optim/foreach.h"
#include "ops/optim/sgd_update.h"

namespace ff {
namespace {

using namespace cuda_nn;

constexpr int kMaxTensors = 48;   // tensors per launch
constexpr int kMaxBlocks = 320;   // chunks (blocks) per launch
constexpr int64_t kChunk = 65536;  // elements per chunk
constexpr int kListThreads = 512;

// Depth: how many tensor lists (param, grad, state...). Scalars: per-tensor doubles.
template <int Depth>
struct ListMeta {
  void* addr[Depth][kMaxTensors];
  int64_t numel[kMaxTensors];
  double scalar0[kMaxTensors];
  double scalar1[kMaxTensors];
  uint8_t flag[kMaxTensors];
  int32_t block_tensor[kMaxBlocks];
  int32_t block_chunk[kMaxBlocks];
  int32_t block_slot[kMaxBlocks];  // foreach_norm: where the chunk's partial goes
};
static_assert(sizeof(ListMeta<5>) < 16000, "multi-tensor metadata must fit the kernel parameter space");

// One entry of a multi-tensor launch.
struct ListEntry {
  std::vector<void*> addr;  // Depth pointers
  int64_t numel = 0;
  double scalar0 = 0, scalar1 = 0;
  uint8_t flag = 0;
  int32_t first_slot = 0;  // slot of the entry's first chunk (foreach_norm)
};

// Packs entries into ListMeta batches and calls launch(meta, blocks) for each.
template <int Depth, typename Launch>
void multi_tensor_apply(const std::vector<ListEntry>& entries, Launch&& launch) {
  ListMeta<Depth> meta;
  int tensors = 0, blocks = 0;
  auto put_tensor = [&](int slot, const ListEntry& e) {
    for (int d = 0; d < Depth; ++d) meta.addr[d][slot] = e.addr[d];
    meta.numel[slot] = e.numel;
    meta.scalar0[slot] = e.scalar0;
    meta.scalar1[slot] = e.scalar1;
    meta.flag[slot] = e.flag;
  };
  for (const ListEntry& e : entries) {
    if (e.numel == 0) continue;
    put_tensor(tensors, e);
    ++tensors;
    const int64_t chunks = cuda::ceil_div(e.numel, kChunk);
    FF_CHECK(chunks <= INT32_MAX, "multi-tensor kernel: tensor of {} elements is too large", e.numel);
    for (int64_t c = 0; c < chunks; ++c) {
      meta.block_tensor[blocks] = tensors - 1;
      meta.block_chunk[blocks] = static_cast<int32_t>(c);
      meta.block_slot[blocks] = static_cast<int32_t>(e.first_slot + c);
      ++blocks;
      const bool last_chunk = c == chunks - 1;
      if (blocks == kMaxBlocks || (tensors == kMaxTensors && last_chunk)) {
        launch(meta, blocks);
        blocks = 0;
        if (last_chunk) {
          tensors = 0;
        } else {  // the tensor continues in the next launch, from slot 0
          put_tensor(0, e);
          tensors = 1;
        }
      }
    }
  }
  if (blocks > 0) launch(meta, blocks);
}

// The element range of this block's chunk.
template <int Depth>
__device__ __forceinline__ void chunk_range(const ListMeta<Depth>& meta, int* t, int64_t* begin, int64_t* end) {
  *t = meta.block_tensor[blockIdx.x];
  *begin = static_cast<int64_t>(meta.block_chunk[blockIdx.x]) * kChunk;
  *end = min(meta.numel[*t], *begin + kChunk);
}

// ---- SGD --------------------------------------------------------------------------------------------------
template <typename A>
struct SgdScalars {
  A lr, wd, momentum, keep, sign;
  bool decay, use_momentum, nesterov;
};

template <typename P, typename A>
__device__ __forceinline__ void sgd_element(P* p, const P* g, A* buf, const SgdScalars<A>& s, bool fresh) {
  const A x = to_acc(*p);
  A d = s.sign * to_acc(*g);
  if (s.decay) d += s.wd * x;
  if (s.use_momentum) {
    const A next = fresh ? d : s.momentum * *buf + s.keep * d;
    *buf = next;
    d = s.nesterov ? d + s.momentum * next : next;
  }
  *p = from_acc<P>(x - s.lr * d);
}

// Lists: 0 param, 1 grad, 2 momentum buffer (unused without momentum). flag: buffer is fresh.
template <typename P>
__global__ void sgd_list_kernel(const __grid_constant__ ListMeta<3> meta, SgdScalars<acc_t_of<P>> s) {
  using A = acc_t_of<P>;
  int t;
  int64_t begin, end;
  chunk_range(meta, &t, &begin, &end);
  P* p = static_cast<P*>(meta.addr[0][t]);
  const P* g = static_cast<const P*>(meta.addr[1][t]);
  A* buf = static_cast<A*>(meta.addr[2][t]);
  const bool fresh = meta.flag[t] != 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    sgd_element(p + i, g + i, s.use_momentum ? buf + i : nullptr, s, fresh);
  }
}

template <typename P>
__global__ void sgd_strided_kernel(P* p, const P* g, acc_t_of<P>* buf, int64_t n, StridedIndexer pi,
                                   StridedIndexer gi, StridedIndexer bi, SgdScalars<acc_t_of<P>> s, bool fresh) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    sgd_element(p + pi.offset(i), g + gi.offset(i), s.use_momentum ? buf + bi.offset(i) : nullptr, s, fresh);
  }
}

template <typename P>
void sgd_update_typed(const SgdUpdateLists& lists, const SgdUpdateHyper& h) {
  using A = acc_t_of<P>;
  SgdScalars<A> s;
  s.lr = static_cast<A>(h.lr);
  s.wd = static_cast<A>(h.weight_decay);
  s.momentum = static_cast<A>(h.momentum);
  s.keep = static_cast<A>(1.0 - h.dampening);
  s.sign = h.maximize ? A(-1) : A(1);
  s.decay = h.weight_decay != 0.0;
  s.use_momentum = h.momentum != 0.0;
  s.nesterov = h.nesterov;
  cudaStream_t stream = cuda::current_stream();
  std::vector<ListEntry> entries;
  for (size_t i = 0; i < lists.params.size(); ++i) {
    const Tensor& p = lists.params[i];
    const Tensor& g = lists.grads[i];
    const Tensor* buf = s.use_momentum ? &lists.momentum_buffers[i] : nullptr;
    const bool fresh = s.use_momentum && lists.buffer_is_fresh[i] != 0;
    const int64_t n = p.numel();
    if (n == 0) continue;
    if (p.is_contiguous() && g.is_contiguous() && (!buf || buf->is_contiguous())) {
      ListEntry e;
      e.addr = {p.raw_data(), g.raw_data(), buf ? buf->raw_data() : nullptr};
      e.numel = n;
      e.flag = fresh ? 1 : 0;
      entries.push_back(std::move(e));
      continue;
    }
    sgd_strided_kernel<P><<<grid_for(n), kThreads, 0, stream>>>(
        ptr<P>(p), ptr<P>(g), buf ? ptr<A>(*buf) : nullptr, n, make_indexer(p), make_indexer(g),
        buf ? make_indexer(*buf) : StridedIndexer{}, s, fresh);
    FF_CUDA_CHECK_LAUNCH();
  }
  multi_tensor_apply<3>(entries, [&](const ListMeta<3>& meta, int blocks) {
    sgd_list_kernel<P><<<blocks, kListThreads, 0, stream>>>(meta, s);
    FF_CUDA_CHECK_LAUNCH();
  });
}

void sgd_update_cuda(const SgdUpdateLists& lists, const SgdUpdateHyper& hyper) {
  FF_CUDA_DISPATCH_FLOATING(lists.params[0].dtype(), "sgd_update", [&] { sgd_update_typed<scalar_t>(lists, hyper); });
}

// ---- AdamW ------------------------------------------------------------------------------------------------
template <typename A>
struct AdamScalars {
  A decay, one_minus_beta1, beta2, one_minus_beta2, eps, sign;
  bool amsgrad;
};

template <typename P, typename A>
__device__ __forceinline__ void adamw_element(P* p, const P* g, A* m, A* v, A* vmax, A step_size, A bc2_sqrt,
                                              const AdamScalars<A>& s) {
  const A d = s.sign * to_acc(*g);
  const A x = to_acc(*p) * s.decay;
  const A m_next = *m + s.one_minus_beta1 * (d - *m);
  const A v_next = s.beta2 * *v + s.one_minus_beta2 * d * d;
  *m = m_next;
  *v = v_next;
  A second = v_next;
  if (s.amsgrad) {
    second = (v_next > *vmax || v_next != v_next) ? v_next : *vmax;  // NaN propagates
    *vmax = second;
  }
  const A denom = sqrt(second) / bc2_sqrt + s.eps;
  *p = from_acc<P>(x - step_size * (m_next / denom));
}

// Lists: 0 param, 1 grad, 2 exp_avg, 3 exp_avg_sq, 4 max_exp_avg_sq (amsgrad).
// scalar0: step size lr / (1 - beta1^t); scalar1: sqrt(1 - beta2^t).
template <typename P>
__global__ void adamw_list_kernel(const __grid_constant__ ListMeta<5> meta, AdamScalars<acc_t_of<P>> s) {
  using A = acc_t_of<P>;
  int t;
  int64_t begin, end;
  chunk_range(meta, &t, &begin, &end);
  P* p = static_cast<P*>(meta.addr[0][t]);
  const P* g = static_cast<const P*>(meta.addr[1][t]);
  A* m = static_cast<A*>(meta.addr[2][t]);
  A* v = static_cast<A*>(meta.addr[3][t]);
  A* vmax = static_cast<A*>(meta.addr[4][t]);
  const A step_size = static_cast<A>(meta.scalar0[t]), bc2_sqrt = static_cast<A>(meta.scalar1[t]);
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    adamw_element(p + i, g + i, m + i, v + i, s.amsgrad ? vmax + i : nullptr, step_size, bc2_sqrt, s);
  }
}

template <typename P>
__global__ void adamw_strided_kernel(P* p, const P* g, acc_t_of<P>* m, acc_t_of<P>* v, acc_t_of<P>* vmax, int64_t n,
                                     StridedIndexer pi, StridedIndexer gi, StridedIndexer mi, StridedIndexer vi,
                                     StridedIndexer xi, acc_t_of<P> step_size, acc_t_of<P> bc2_sqrt,
                                     AdamScalars<acc_t_of<P>> s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    adamw_element(p + pi.offset(i), g + gi.offset(i), m + mi.offset(i), v + vi.offset(i),
                  s.amsgrad ? vmax + xi.offset(i) : nullptr, step_size, bc2_sqrt, s);
  }
}

template <typename P>
void adamw_update_typed(const AdamWUpdateLists& lists, const AdamWUpdateHyper& h) {
  using A = acc_t_of<P>;
  AdamScalars<A> s;
  s.decay = static_cast<A>(1.0 - h.lr * h.weight_decay);
  s.one_minus_beta1 = static_cast<A>(1.0 - h.beta1);
  s.beta2 = static_cast<A>(h.beta2);
  s.one_minus_beta2 = static_cast<A>(1.0 - h.beta2);
  s.eps = static_cast<A>(h.eps);
  s.sign = h.maximize ? A(-1) : A(1);
  s.amsgrad = h.amsgrad;
  cudaStream_t stream = cuda::current_stream();
  std::vector<ListEntry> entries;
  for (size_t i = 0; i < lists.params.size(); ++i) {
    const Tensor& p = lists.params[i];
    const int64_t n = p.numel();
    if (n == 0) continue;
    // Per-tensor scalars in double, rounded once, as the CPU kernel does.
    const double step = static_cast<double>(lists.steps[i]);
    const double step_size = h.lr / (1.0 - std::pow(h.beta1, step));
    const double bc2_sqrt = std::sqrt(1.0 - std::pow(h.beta2, step));
    const Tensor* vmax = h.amsgrad ? &lists.max_exp_avg_sqs[i] : nullptr;
    const Tensor& g = lists.grads[i];
    const Tensor& m = lists.exp_avgs[i];
    const Tensor& v = lists.exp_avg_sqs[i];
    if (p.is_contiguous() && g.is_contiguous() && m.is_contiguous() && v.is_contiguous() &&
        (!vmax || vmax->is_contiguous())) {
      ListEntry e;
      e.addr = {p.raw_data(), g.raw_data(), m.raw_data(), v.raw_data(), vmax ? vmax->raw_data() : nullptr};
      e.numel = n;
      // Rounded to A here so the list and strided paths see identical values.
      e.scalar0 = static_cast<double>(static_cast<A>(step_size));
      e.scalar1 = static_cast<double>(static_cast<A>(bc2_sqrt));
      entries.push_back(std::move(e));
      continue;
    }
    adamw_strided_kernel<P><<<grid_for(n), kThreads, 0, stream>>>(
        ptr<P>(p), ptr<P>(g), ptr<A>(m), ptr<A>(v), vmax ? ptr<A>(*vmax) : nullptr, n, make_indexer(p),
        make_indexer(g), make_indexer(m), make_indexer(v), vmax ? make_indexer(*vmax) : StridedIndexer{},
        static_cast<A>(step_size), static_cast<A>(bc2_sqrt), s);
    FF_CUDA_CHECK_LAUNCH();
  }
  multi_tensor_apply<5>(entries, [&](const ListMeta<5>& meta, int blocks) {
    adamw_list_kernel<P><<<blocks, kListThreads, 0, stream>>>(meta, s);
    FF_CUDA_CHECK_LAUNCH();
  });
}

void adamw_update_cuda(const AdamWUpdateLists& lists, const AdamWUpdateHyper& hyper) {
  FF_CUDA_DISPATCH_FLOATING(lists.params[0].dtype(), "adamw_update",
                            [&] { adamw_update_typed<scalar_t>(lists, hyper); });
}

// ---- foreach_scale_ -----------------------------------------------------------------------------------------
template <typename T>
__global__ void scale_list_kernel(const __grid_constant__ ListMeta<1> meta, acc_t_of<T> s) {
  int t;
  int64_t begin, end;
  chunk_range(meta, &t, &begin, &end);
  T* x = static_cast<T*>(meta.addr[0][t]);
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) x[i] = from_acc<T>(to_acc(x[i]) * s);
}

template <typename T>
__global__ void scale_strided_kernel(T* x, int64_t n, StridedIndexer xi, acc_t_of<T> s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    T* e = x + xi.offset(i);
    *e = from_acc<T>(to_acc(*e) * s);
  }
}

void foreach_scale_cuda(const std::vector<Tensor>& tensors, double scale) {
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(tensors[0].dtype(), "foreach_scale_", [&] {
    using A = acc_t_of<scalar_t>;
    const A s = static_cast<A>(scale);
    std::vector<ListEntry> entries;
    for (const Tensor& t : tensors) {
      const int64_t n = t.numel();
      if (n == 0) continue;
      if (t.is_contiguous()) {
        ListEntry e;
        e.addr = {t.raw_data()};
        e.numel = n;
        entries.push_back(std::move(e));
        continue;
      }
      scale_strided_kernel<scalar_t><<<grid_for(n), kThreads, 0, stream>>>(ptr<scalar_t>(t), n, make_indexer(t), s);
      FF_CUDA_CHECK_LAUNCH();
    }
    multi_tensor_apply<1>(entries, [&](const ListMeta<1>& meta, int blocks) {
      scale_list_kernel<scalar_t><<<blocks, kListThreads, 0, stream>>>(meta, s);
      FF_CUDA_CHECK_LAUNCH();
    });
  });
}

// ---- foreach_norm -------------------------------------------------------------------------------------------
enum class NormKind : int { Inf = 0, Two = 1, One = 2, P = 3 };

__device__ __forceinline__ double norm_term(double a, NormKind kind, double p) {
  switch (kind) {
    case NormKind::Two: return a * a;
    case NormKind::One: return a;
    case NormKind::P: return pow(a, p);
    default: return a;
  }
}

// Partial of chunk b: sum of |x|^p terms, or the NaN-propagating max of |x| for inf.
template <typename T>
__global__ void norm_list_kernel(const __grid_constant__ ListMeta<1> meta, NormKind kind, double p,
                                 double* __restrict__ partials) {
  int t;
  int64_t begin, end;
  chunk_range(meta, &t, &begin, &end);
  const T* x = static_cast<const T*>(meta.addr[0][t]);
  double acc = 0.0;
  if (kind == NormKind::Inf) {
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) acc = NanMaxOp{}(acc, fabs(static_cast<double>(to_acc(x[i]))));
    acc = block_reduce(acc, NanMaxOp{}, 0.0);
  } else {
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      acc += norm_term(fabs(static_cast<double>(to_acc(x[i]))), kind, p);
    }
    acc = block_reduce(acc, SumOp{}, 0.0);
  }
  if (threadIdx.x == 0) partials[meta.block_slot[blockIdx.x]] = acc;
}

// Tensor ranges for the finalize kernel, passed by value (no host-to-device copy needed).
constexpr int kFinalizeBatch = 256;
struct NormRanges {
  int64_t first[kFinalizeBatch];  // first partial of each tensor in the batch
  int64_t end[kFinalizeBatch];    // one past its last partial
  int64_t out_base;               // out index of the batch's first tensor
  int count;
};

// out[i] from tensor i's partials [first, end), combined in chunk order.
__global__ void norm_finalize_kernel(const double* __restrict__ partials, const __grid_constant__ NormRanges r,
                                     NormKind kind, double p, double* __restrict__ out) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= r.count) return;
  double total = 0.0;
  for (int64_t k = r.first[i]; k < r.end[i]; ++k) {
    total = kind == NormKind::Inf ? NanMaxOp{}(total, partials[k]) : total + partials[k];
  }
  if (kind == NormKind::Two) total = sqrt(total);
  if (kind == NormKind::P) total = pow(total, 1.0 / p);
  out[r.out_base + i] = total;
}

void foreach_norm_cuda(const Tensor& out, const std::vector<Tensor>& tensors, double norm_type) {
  const NormKind kind = std::isinf(norm_type) ? NormKind::Inf
                        : norm_type == 2.0    ? NormKind::Two
                        : norm_type == 1.0    ? NormKind::One
                                              : NormKind::P;
  const int64_t n = static_cast<int64_t>(tensors.size());
  cudaStream_t stream = cuda::current_stream();
  // Chunk slots: tensor i's chunks are partials [offsets[i], offsets[i + 1]).
  std::vector<int64_t> offsets(static_cast<size_t>(n) + 1, 0);
  std::vector<Tensor> dense(tensors.size());  // alive until every launch is queued
  std::vector<ListEntry> entries;
  for (int64_t i = 0; i < n; ++i) {
    const Tensor& t = tensors[static_cast<size_t>(i)];
    dense[i] = t.is_contiguous() ? t : t.detach().contiguous();
    offsets[i + 1] = offsets[i] + cuda::ceil_div(t.numel(), kChunk);
    FF_CHECK(offsets[i + 1] <= INT32_MAX, "foreach_norm: too many elements for the CUDA kernel");
    ListEntry e;
    e.addr = {dense[i].raw_data()};
    e.numel = t.numel();
    e.first_slot = static_cast<int32_t>(offsets[i]);
    entries.push_back(std::move(e));
  }
  const Tensor partials = scratch(std::max<int64_t>(offsets[n], 1), DType::Float64, out.device());
  FF_CUDA_DISPATCH_FLOATING(tensors[0].dtype(), "foreach_norm", [&] {
    multi_tensor_apply<1>(entries, [&](const ListMeta<1>& meta, int blocks) {
      norm_list_kernel<scalar_t><<<blocks, kListThreads, 0, stream>>>(meta, kind, norm_type, ptr<double>(partials));
      FF_CUDA_CHECK_LAUNCH();
    });
  });
  for (int64_t base = 0; base < n; base += kFinalizeBatch) {
    NormRanges r;
    r.out_base = base;
    r.count = static_cast<int>(std::min<int64_t>(kFinalizeBatch, n - base));
    for (int k = 0; k < r.count; ++k) {
      r.first[k] = offsets[base + k];
      r.end[k] = offsets[base + k + 1];
    }
    norm_finalize_kernel<<<1, kFinalizeBatch, 0, stream>>>(ptr<double>(partials), r, kind, norm_type,
                                                            ptr<double>(out));
    FF_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

FF_REGISTER_KERNEL(sgd_update, CUDA, dispatch::kFloatingTypes, &sgd_update_cuda);
FF_REGISTER_KERNEL(adamw_update, CUDA, dispatch::kFloatingTypes, &adamw_update_cuda);
FF_REGISTER_KERNEL(foreach_norm, CUDA, dispatch::kFloatingTypes, &foreach_norm_cuda);
FF_REGISTER_KERNEL(foreach_scale_, CUDA, dispatch::kFloatingTypes, &foreach_scale_cuda);

}  // namespace ff
