// Elementwise unary math, clamp and where. Floating inputs only, except neg/abs which also
// accept integers. Output has the input's shape and dtype.
#pragma once

#include <optional>

#include "framework/core/tensor.h"

namespace ff {

enum class UnaryOp { Neg, Exp, Log, Sqrt, Rsqrt, Abs, Acos, Cos, Sin, PowScalar, Clamp };
const char* unary_op_name(UnaryOp op);

Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);   // 1 / sqrt(x)
Tensor abs(const Tensor& x);     // gradient sign(x), 0 at 0
Tensor acos(const Tensor& x);    // gradient -1/sqrt(1-x^2); x must lie in [-1, 1]
Tensor cos(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
// Clamp to [lo, hi]; either bound may be absent. Gradient passes where lo <= x <= hi.
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi);

// out = cond ? a : b, all three broadcast together; cond must be bool. Differentiable in a and b.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// Kernels. p0/p1: the exponent for PowScalar; the bounds for Clamp (NaN = absent).
using UnaryKernel = void (*)(const Tensor& out, const Tensor& x, UnaryOp op, double p0, double p1);
using WhereKernel = void (*)(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);

}  // namespace ff
