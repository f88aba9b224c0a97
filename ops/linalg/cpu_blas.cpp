#include "ops/linalg/cpu_blas.h"

#include <cblas.h>

#include <algorithm>
#include <limits>

#include "framework/common/check.h"
#include "framework/core/parallel.h"

namespace ff::cpu {
namespace {

// Below this many flops per thread, waking another thread costs more than it saves.
constexpr double kMinFlopsPerThread = 2.0 * 96 * 96 * 96;
// Blocks of C are multiples of this many rows/columns (a 64-byte vector of floats), so no
// thread gets a sliver that the BLAS micro-kernel handles with masked tails.
constexpr int64_t kBlockAlign = 16;

// OpenBLAS takes 32-bit ints (blasint); larger problems must be split by the caller.
blasint to_blas_int(int64_t v, const char* what) {
  FF_CHECK(v <= std::numeric_limits<blasint>::max(),
           "gemm: {} = {} exceeds the BLAS index range ({}); split the problem", what, v,
           std::numeric_limits<blasint>::max());
  return static_cast<blasint>(v);
}

// C = beta * C for an [m, n] block, without reading C when beta == 0.
template <typename T>
void scale_block(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    if (beta == T(0)) {
      std::fill(row, row + n, T(0));
    } else {
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
  }
}

template <typename T, typename Blas>
void gemm_impl(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
               const T* b, int64_t ldb, T beta, T* c, int64_t ldc, Blas blas) {
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) {
    scale_block(m, n, beta, c, ldc);
    return;
  }
  // BLAS insists on ld >= max(1, stored columns) even where only one row is read.
  const int64_t a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
  FF_ASSERT(lda >= a_cols && ldb >= b_cols && ldc >= n, "gemm: leading dims {}/{}/{} below row lengths {}/{}/{}",
            lda, ldb, ldc, a_cols, b_cols, n);
  const blasint ilda = to_blas_int(std::max<int64_t>(lda, 1), "lda");
  const blasint ildb = to_blas_int(std::max<int64_t>(ldb, 1), "ldb");
  const blasint ildc = to_blas_int(std::max<int64_t>(ldc, 1), "ldc");
  const blasint ik = to_blas_int(k, "k");
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;

  // Split C along its longer side into one block per thread. A column block of C needs the same
  // columns of op(B) (B + j0, or rows j0.. of a transposed B); a row block the same rows of op(A).
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const bool split_columns = n >= m;
  const int64_t extent = split_columns ? n : m;
  int64_t parts = in_parallel_region() ? 1 : get_num_threads();
  parts = std::min<int64_t>(parts, static_cast<int64_t>(flops / kMinFlopsPerThread));
  parts = std::min<int64_t>(parts, (extent + kBlockAlign - 1) / kBlockAlign);
  if (parts <= 1) {
    blas(CblasRowMajor, ta, tb, to_blas_int(m, "m"), to_blas_int(n, "n"), ik, alpha, a, ilda, b, ildb, beta, c, ildc);
    return;
  }
  const int64_t block = ((extent + parts - 1) / parts + kBlockAlign - 1) / kBlockAlign * kBlockAlign;
  parallel_for(0, parts, 1, [&](int64_t first, int64_t last) {
    for (int64_t part = first; part < last; ++part) {
      const int64_t lo = part * block, hi = std::min(extent, lo + block);
      if (lo >= hi) continue;
      if (split_columns) {
        const T* b_block = trans_b ? b + lo * ldb : b + lo;
        blas(CblasRowMajor, ta, tb, to_blas_int(m, "m"), to_blas_int(hi - lo, "n"), ik, alpha, a, ilda, b_block, ildb,
             beta, c + lo, ildc);
      } else {
        const T* a_block = trans_a ? a + lo : a + lo * lda;
        blas(CblasRowMajor, ta, tb, to_blas_int(hi - lo, "m"), to_blas_int(n, "n"), ik, alpha, a_block, ilda, b, ildb,
             beta, c + lo * ldc, ildc);
      }
    }
  });
}

}  // namespace

void blas_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_impl(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, &cblas_sgemm);
}

void blas_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
               int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm_impl(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, &cblas_dgemm);
}

}  // namespace ff::cpu
