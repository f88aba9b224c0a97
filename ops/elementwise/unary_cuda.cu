// CUDA kernels of the unary elementwise ops (one kernel per dtype, the op a kernel argument)
// and of where. Semantics mirror unary.cpp: 16-bit floats compute in float; rsqrt is
// 1 / sqrt(x) with IEEE division and square root (bit-identical to the CPU); exp, log, acos,
// cos, sin and pow use CUDA's libdevice functions, which are within 2 ulp of glibc's.
#include <cmath>
#include <type_traits>

#include "framework/dispatch/registry.h"
#include "ops/common/cuda_loops.cuh"
#include "ops/elementwise/unary.h"

namespace ff {
namespace {

using cuda::dacc_t;
using cuda::device_t;
using cuda::from_acc;
using cuda::to_acc;

// Neg and Abs: every numeric type.
template <typename T>
struct SignFn {
  bool negate;
  __device__ __forceinline__ T operator()(T v_in) const {
    using A = dacc_t<T>;
    const A v = to_acc(v_in);
    if (negate) return from_acc<T>(static_cast<A>(-v));
    if constexpr (std::is_unsigned_v<A>) {
      return v_in;  // |v| = v
    } else {
      return from_acc<T>(v < A(0) ? static_cast<A>(-v) : v);
    }
  }
};

// Floating ops; A is float or double. p0/p1 as in UnaryKernel (clamp bounds: has_lo/has_hi).
template <typename T>
struct FloatFn {
  UnaryOp op;
  dacc_t<T> p0, p1;
  bool has_lo, has_hi, square;
  __device__ __forceinline__ T operator()(T v_in) const {
    using A = dacc_t<T>;
    A v = to_acc(v_in);
    switch (op) {
      case UnaryOp::Exp: v = ::exp(v); break;
      case UnaryOp::Log: v = ::log(v); break;
      case UnaryOp::Sqrt: v = ::sqrt(v); break;
      case UnaryOp::Rsqrt: v = A(1) / ::sqrt(v); break;
      case UnaryOp::Acos: v = ::acos(v); break;
      case UnaryOp::Cos: v = ::cos(v); break;
      case UnaryOp::Sin: v = ::sin(v); break;
      case UnaryOp::PowScalar: v = square ? v * v : ::pow(v, p0); break;
      case UnaryOp::Clamp:
        if (has_lo && v < p0) v = p0;
        if (has_hi && v > p1) v = p1;
        break;
      default: break;
    }
    return from_acc<T>(v);
  }
};

template <typename T>
struct WhereFn {
  __device__ __forceinline__ T operator()(bool c, T x, T y) const { return c ? x : y; }
};

void unary_cuda(const Tensor& out, const Tensor& x, UnaryOp op, double p0, double p1) {
  const char* name = unary_op_name(op);
  FF_DISPATCH_ALL(x.dtype(), name, [&] {
    using T = device_t<scalar_t>;
    if constexpr (std::is_same_v<scalar_t, bool>) {
      FF_THROW("{}: not supported for bool tensors", name);
    } else {
      using A = dacc_t<T>;
      if (op == UnaryOp::Neg || op == UnaryOp::Abs) {
        cuda::gpu_map<T, T>(out, x, SignFn<T>{op == UnaryOp::Neg}, name);
      } else if constexpr (std::is_floating_point_v<A>) {
        const FloatFn<T> f{op, static_cast<A>(p0), static_cast<A>(p1), !std::isnan(p0), !std::isnan(p1), p0 == 2.0};
        cuda::gpu_map<T, T>(out, x, f, name);
      } else {
        FF_THROW("{}: not supported for dtype {}", name, dtype_name(x.dtype()));
      }
    }
  });
}

void where_cuda(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  FF_DISPATCH_ALL(out.dtype(), "where", [&] {
    using T = device_t<scalar_t>;
    cuda::gpu_map<T, bool, T, T>(out, cond, a, b, WhereFn<T>{}, "where");
  });
}

}  // namespace

FF_REGISTER_KERNEL(neg, CUDA, dispatch::kNumericTypes, &unary_cuda);
FF_REGISTER_KERNEL(abs, CUDA, dispatch::kNumericTypes, &unary_cuda);
FF_REGISTER_KERNEL(exp, CUDA, dispatch::kFloatingTypes, &unary_cuda);
FF_REGISTER_KERNEL(log, CUDA, dispatch::kFloatingTypes, &unary_cuda);
FF_REGISTER_KERNEL(sqrt, CUDA, dispatch::kFloatingTypes, &unary_cuda);
FF_REGISTER_KERNEL(rsqrt, CUDA, dispatch::kFloatingTypes, &unary_cuda);
FF_REGISTER_KERNEL(acos, CUDA, dispatch::kFloatingTypes, &unary_cuda);
FF_REGISTER_KERNEL(cos, CUDA, dispatch::kFloatingTypes, &unary_cuda);
FF_REGISTER_KERNEL(sin, CUDA, dispatch::kFloatingTypes, &unary_cuda);
FF_REGISTER_KERNEL(pow_scalar, CUDA, dispatch::kFloatingTypes, &unary_cuda);
FF_REGISTER_KERNEL(clamp, CUDA, dispatch::kFloatingTypes, &unary_cuda);
FF_REGISTER_KERNEL(where, CUDA, dispatch::kAllTypes, &where_cuda);

}  // namespace ff
