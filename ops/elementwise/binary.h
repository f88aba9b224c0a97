// Elementwise binary ops with NumPy broadcasting and type promotion.
//
//   out = op(a, b), out.shape = broadcast(a.shape, b.shape)
//   arithmetic: out.dtype = promote(a.dtype, b.dtype); comparisons: out.dtype = bool.
//   A double scalar operand takes the tensor's dtype (no promotion).
#pragma once

#include "framework/core/tensor.h"

namespace ff {

enum class BinaryOp { Add, Sub, Mul, Div, Maximum, Minimum, Pow, Eq, Ne, Lt, Le, Gt, Ge };
const char* binary_op_name(BinaryOp op);

// Differentiable (gradients are summed back over broadcast dims).
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);  // gradient goes to a where a >= b
Tensor minimum(const Tensor& a, const Tensor& b);  // gradient goes to a where a <= b
Tensor pow(const Tensor& base, const Tensor& exponent);
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);

// Comparisons (not differentiable): bool results.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

// In-place a (op)= b, b broadcast to a; not recorded by autograd (optimizers, accumulators).
void add_(const Tensor& a, const Tensor& b, double alpha = 1.0);  // a += alpha * b
void mul_(const Tensor& a, double s);                             // a *= s

// Kernel: a and b share the compute dtype the kernel is keyed by; out has the broadcast
// shape (comparisons: bool). Inputs may be strided or broadcast (stride 0).
using BinaryKernel = void (*)(const Tensor& out, const Tensor& a, const Tensor& b, BinaryOp op);
// Kernel: a += alpha * b in place, b broadcast to a.
using AxpyKernel = void (*)(const Tensor& a, const Tensor& b, double alpha);

}  // namespace ff
