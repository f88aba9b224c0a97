// CUDA kernels of the binary elementwise ops and axpy_ (the in-place a += alpha * b).
//
// One kernel per dtype for all arithmetic ops and one for all comparisons: the op is a kernel
// argument (a warp-uniform switch costs nothing next to the memory traffic) instead of a
// template parameter, which keeps compile time and binary size down. Semantics mirror the CPU
// kernel in binary.cpp: 16-bit floats compute in float, maximum/minimum propagate NaN from a
// and otherwise prefer a on ties, pow computes in double.
#include "framework/dispatch/registry.h"
#include "ops/common/cuda_loops.cuh"
#include "ops/elementwise/binary.h"

namespace ff {
namespace {

using cuda::dacc_t;
using cuda::device_t;
using cuda::from_acc;
using cuda::to_acc;

template <typename T>
struct ArithFn {
  BinaryOp op;
  __device__ __forceinline__ T operator()(T x_in, T y_in) const {
    using A = dacc_t<T>;
    const A x = to_acc(x_in), y = to_acc(y_in);
    A r;
    switch (op) {
      case BinaryOp::Add: r = x + y; break;
      case BinaryOp::Sub: r = x - y; break;
      case BinaryOp::Mul: r = x * y; break;
      case BinaryOp::Div: r = x / y; break;  // registered for floating types only
      case BinaryOp::Maximum: r = (x >= y || x != x) ? x : y; break;
      case BinaryOp::Minimum: r = (x <= y || x != x) ? x : y; break;
      case BinaryOp::Pow: r = static_cast<A>(::pow(static_cast<double>(x), static_cast<double>(y))); break;
      default: r = A(0); break;  // comparisons go to CompareFn
    }
    return from_acc<T>(r);
  }
};

template <typename T>
struct CompareFn {
  BinaryOp op;
  __device__ __forceinline__ bool operator()(T x_in, T y_in) const {
    using A = dacc_t<T>;
    const A x = to_acc(x_in), y = to_acc(y_in);
    switch (op) {
      case BinaryOp::Eq: return x == y;
      case BinaryOp::Ne: return x != y;
      case BinaryOp::Lt: return x < y;
      case BinaryOp::Le: return x <= y;
      case BinaryOp::Gt: return x > y;
      case BinaryOp::Ge: return x >= y;
      default: return false;
    }
  }
};

// a + alpha * b in the compute type; no FMA contraction, so results equal the CPU's bits.
template <typename T>
struct AxpyFn {
  dacc_t<T> alpha;
  __device__ __forceinline__ T operator()(T x, T y) const {
    return from_acc<T>(cuda::add_rn(to_acc(x), cuda::mul_rn(alpha, to_acc(y))));
  }
};

bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }

void binary_cuda(const Tensor& out, const Tensor& a, const Tensor& b, BinaryOp op) {
  FF_DISPATCH_ALL(a.dtype(), binary_op_name(op), [&] {
    using T = device_t<scalar_t>;
    if (is_comparison(op)) {
      cuda::gpu_map<bool, T, T>(out, a, b, CompareFn<T>{op}, binary_op_name(op));
    } else if constexpr (!std::is_same_v<scalar_t, bool>) {
      cuda::gpu_map<T, T, T>(out, a, b, ArithFn<T>{op}, binary_op_name(op));
    } else {
      FF_THROW("{}: not supported for bool tensors", binary_op_name(op));
    }
  });
}

void axpy_cuda(const Tensor& a, const Tensor& b, double alpha) {
  FF_DISPATCH_ALL(a.dtype(), "add_", [&] {
    if constexpr (std::is_same_v<scalar_t, bool>) {
      FF_THROW("add_: not supported for bool tensors");
    } else {
      using T = device_t<scalar_t>;
      // The CPU kernel converts alpha to the compute type first (integers truncate it): same here.
      const auto al = static_cast<dacc_t<T>>(static_cast<acc_t<scalar_t>>(alpha));
      cuda::gpu_map<T, T, T>(a, a, b, AxpyFn<T>{al}, "add_");
    }
  });
}

}  // namespace

FF_REGISTER_KERNEL(add, CUDA, dispatch::kNumericTypes, &binary_cuda);
FF_REGISTER_KERNEL(sub, CUDA, dispatch::kNumericTypes, &binary_cuda);
FF_REGISTER_KERNEL(mul, CUDA, dispatch::kNumericTypes, &binary_cuda);
FF_REGISTER_KERNEL(div, CUDA, dispatch::kFloatingTypes, &binary_cuda);
FF_REGISTER_KERNEL(maximum, CUDA, dispatch::kNumericTypes, &binary_cuda);
FF_REGISTER_KERNEL(minimum, CUDA, dispatch::kNumericTypes, &binary_cuda);
FF_REGISTER_KERNEL(pow, CUDA, dispatch::kFloatingTypes, &binary_cuda);
FF_REGISTER_KERNEL(eq, CUDA, dispatch::kAllTypes, &binary_cuda);
FF_REGISTER_KERNEL(ne, CUDA, dispatch::kAllTypes, &binary_cuda);
FF_REGISTER_KERNEL(lt, CUDA, dispatch::kAllTypes, &binary_cuda);
FF_REGISTER_KERNEL(le, CUDA, dispatch::kAllTypes, &binary_cuda);
FF_REGISTER_KERNEL(gt, CUDA, dispatch::kAllTypes, &binary_cuda);
FF_REGISTER_KERNEL(ge, CUDA, dispatch::kAllTypes, &binary_cuda);
FF_REGISTER_KERNEL(axpy_, CUDA, dispatch::kNumericTypes, &axpy_cuda);

}  // namespace ff
