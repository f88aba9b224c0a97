// One element of sparse_rows_sgd_update_, shared by the CPU kernel and the CUDA kernel.
#pragma once

#if defined(__CUDACC__)
#define FF_SPARSE_SGD_HD __host__ __device__ __forceinline__
#else
#define FF_SPARSE_SGD_HD inline
#endif

namespace ff::sparse_sgd_math {

// Hyper-parameters in the compute type A.
template <typename A>
struct Hyper {
  A lr, momentum, weight_decay, sign;  // sign: -1 when maximizing
  bool use_momentum, nesterov;
};

// Returns the new parameter value; updates *buf when momentum is on.
template <typename A>
FF_SPARSE_SGD_HD A update_element(A p, A g, A* buf, const Hyper<A>& h) {
  A d = h.sign * g + h.weight_decay * p;
  if (h.use_momentum) {
    const A next = h.momentum * *buf + d;
    *buf = next;
    d = h.nesterov ? d + h.momentum * next : next;
  }
  return p - h.lr * d;
}

}  // namespace ff::sparse_sgd_math
