// Matrix products (OpenBLAS on CPU, cuBLAS on CUDA).
#pragma once

#include "framework/core/tensor.h"

namespace ff {

// a [..., M, K] @ b [..., K, N] -> [..., M, N]; leading (batch) dims broadcast. 1-D operands
// follow NumPy: a [K] is treated as [1, K], b [K] as [K, 1], and the added dim is dropped.
Tensor matmul(const Tensor& a, const Tensor& b);

// x [..., in] @ weight[out, in]^T + bias[out] -> [..., out]. bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- kernels ----------------------------------------------------------------------------------------
// Strided batched GEMM in row-major terms, the primitive under matmul, linear and the CPU conv:
//
//   for i in [0, batch):  C_i = alpha * op(A_i) @ op(B_i) + beta * C_i
//
// op(A_i) is [m, k], op(B_i) is [k, n], C_i is [m, n]. A_i starts batch_stride_a elements after
// A_{i-1} (0: one A shared by every batch entry; the same for B). A is stored as [m, k] with
// row stride lda, or, when trans_a, as [k, m] with row stride lda (likewise B). C is never
// shared (batch_stride_c > 0 when batch > 1). With beta == 0, C is not read (NaNs in it vanish).
struct GemmParams {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  int64_t lda = 1, ldb = 1, ldc = 1;
  int64_t batch = 1;
  int64_t batch_stride_a = 0, batch_stride_b = 0, batch_stride_c = 0;
  double alpha = 1.0, beta = 0.0;
};

// a, b, c: tensors of one dtype and device whose raw_data() is element [0, 0] of batch entry 0;
// their sizes and strides are not looked at (the layout is all in GemmParams).
using GemmKernel = void (*)(const GemmParams& p, const Tensor& a, const Tensor& b, const Tensor& c);

// out [batch..., M, N] (contiguous) = a [a_batch..., M, K] @ b [b_batch..., K, N]; a and b have
// rank >= 2, any strides, and batch dims that broadcast to out's.
using MatmulKernel = void (*)(const Tensor& out, const Tensor& a, const Tensor& b);

// out [M, N] (contiguous) = x [M, K] @ weight [N, K]^T + bias [N] (bias may be undefined);
// x and weight may have any strides.
using LinearKernel = void (*)(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias);

// Runs the "gemm" kernel of c's device and dtype.
void gemm(const GemmParams& p, const Tensor& a, const Tensor& b, const Tensor& c);

// Device-independent matmul and linear kernels written on top of gemm(): they turn strides
// into transpose flags and leading dimensions (copying only operands BLAS cannot read), and
// fold broadcast batches into one large GEMM where possible. Registered as the CPU kernels;
// any backend with a "gemm" kernel can register them as well.
void matmul_via_gemm(const Tensor& out, const Tensor& a, const Tensor& b);
void linear_via_gemm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias);

}  // namespace ff
