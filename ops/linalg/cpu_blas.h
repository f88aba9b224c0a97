// Typed row-major GEMM on raw host pointers, for CPU kernels (matmul, linear, conv im2col).
//
//   C[m, n] = alpha * op(A) @ op(B) + beta * C
//
// op(A) is A [m, k] (row stride lda) or, with trans_a, A stored as [k, m] (row stride lda);
// likewise B. float and double go to OpenBLAS (cblas_sgemm / cblas_dgemm), which runs
// single-threaded (see framework/core/parallel.cpp): called outside a parallel region, a large
// product is split into column (or row) blocks of C, one single-threaded BLAS call per OpenMP
// thread; called inside one (e.g. a conv working on its share of the batch), it runs inline.
// Empty products are handled here (BLAS rejects some of them): k == 0 gives C = beta * C, with
// beta == 0 writing zeros.
#pragma once

#include <cstdint>

namespace ff::cpu {

void blas_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void blas_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
               int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

}  // namespace ff::cpu
