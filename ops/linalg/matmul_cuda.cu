// CUDA kernels of gemm, matmul and linear.
//
//  * gemm: cublasGemmStridedBatchedEx_64 (64-bit sizes). fp16/bf16 run on tensor cores with fp32
//    accumulation (CUBLAS_COMPUTE_32F, fp32 alpha/beta); fp32 is IEEE fp32 unless
//    ff::gpu::allow_tf32() (then CUBLAS_COMPUTE_32F_FAST_TF32); fp64 is CUBLAS_COMPUTE_64F.
//    Row-major GemmParams are mapped onto column-major cuBLAS by computing C^T = op(B)^T op(A)^T,
//    which swaps the operands and needs no copies.
//  * matmul: the device-independent matmul_via_gemm planner on top of this gemm.
//  * linear: with a bias and a dense [M, K] x / [N, K] weight in fp32/fp16/bf16, one cuBLASLt
//    matmul with the BIAS epilogue (the bias is added inside the GEMM, no extra pass over out);
//    heuristic choices are cached per shape, dtype and pointer alignment; the workspace is the
//    runtime's per-stream cuBLASLt workspace. Otherwise (fp64,
//    unusual strides, no Lt algorithm) linear_via_gemm without bias plus a bias-add kernel.
#include <climits>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "framework/dispatch/registry.h"
#include "ops/common/gpu_math_config.h"
#include "ops/common/nn_cuda_utils.cuh"
#include "ops/linalg/matmul.h"

namespace ff {
namespace {

using namespace cuda_nn;

cudaDataType_t cuda_dtype(DType t) {
  switch (t) {
    case DType::Float32: return CUDA_R_32F;
    case DType::Float64: return CUDA_R_64F;
    case DType::Float16: return CUDA_R_16F;
    case DType::BFloat16: return CUDA_R_16BF;
    default: FF_THROW("gemm: CUDA kernel does not support dtype {}", dtype_name(t));
  }
}

cublasComputeType_t compute_type(DType t) {
  if (t == DType::Float64) return CUBLAS_COMPUTE_64F;
  if (t == DType::Float32 && gpu::allow_tf32()) return CUBLAS_COMPUTE_32F_FAST_TF32;
  return CUBLAS_COMPUTE_32F;  // fp32, and fp16/bf16 inputs with fp32 accumulation
}

// C_i = beta * C_i for the k == 0 case (no product terms); beta == 0 writes zeros (NaN-free).
template <typename T>
__global__ void scale_matrices_kernel(T* __restrict__ c, int64_t m, int64_t n, int64_t ldc, int64_t batch_stride,
                                      int64_t total, double beta) {
  using A = acc_t_of<T>;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = i / (m * n), r = (i / n) % m, col = i % n;
    T* e = c + b * batch_stride + r * ldc + col;
    *e = beta == 0.0 ? from_acc<T>(A(0)) : from_acc<T>(static_cast<A>(beta) * to_acc(*e));
  }
}

void gemm_cuda(const GemmParams& p, const Tensor& a, const Tensor& b, const Tensor& c) {
  FF_ASSERT(a.dtype() == c.dtype() && b.dtype() == c.dtype(), "gemm: mixed dtypes {} {} {}", a.describe(),
            b.describe(), c.describe());
  FF_ASSERT(p.batch <= 1 || p.batch_stride_c >= p.m * p.ldc || p.m == 0 || p.n == 0,
            "gemm: batch entries of C overlap (batch {}, stride {}, [{} x {}], ldc {})", p.batch, p.batch_stride_c,
            p.m, p.n, p.ldc);
  if (p.m == 0 || p.n == 0 || p.batch == 0) return;
  const DType dt = c.dtype();
  cudaStream_t stream = cuda::current_stream();
  if (p.k == 0) {  // cuBLAS may reject k == 0; the product is empty, so C = beta * C
    const int64_t total = p.batch * p.m * p.n;
    FF_CUDA_DISPATCH_FLOATING(dt, "gemm", [&] {
      scale_matrices_kernel<scalar_t><<<grid_for(total), kThreads, 0, stream>>>(ptr<scalar_t>(c), p.m, p.n, p.ldc,
                                                                                p.batch_stride_c, total, p.beta);
      FF_CUDA_CHECK_LAUNCH();
    });
    return;
  }
  // Column-major view: C^T [n x m] (ld ldc) = op(B)^T [n x k] * op(A)^T [k x m]. A row-major
  // matrix stored [r, c] with row stride ld is a column-major [c x r] matrix with the same ld.
  const cublasOperation_t op_b = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cudaDataType_t type = cuda_dtype(dt);
  const cublasComputeType_t compute = compute_type(dt);
  cublasHandle_t handle = cuda::cublas_handle();
  if (dt == DType::Float64) {
    const double alpha = p.alpha, beta = p.beta;
    FF_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(handle, op_b, op_a, p.n, p.m, p.k, &alpha, b.raw_data(), type, p.ldb,
                                                  p.batch_stride_b, a.raw_data(), type, p.lda, p.batch_stride_a, &beta,
                                                  c.raw_data(), type, p.ldc, p.batch_stride_c, p.batch, compute,
                                                  CUBLAS_GEMM_DEFAULT));
  } else {
    const float alpha = static_cast<float>(p.alpha), beta = static_cast<float>(p.beta);
    FF_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(handle, op_b, op_a, p.n, p.m, p.k, &alpha, b.raw_data(), type, p.ldb,
                                                  p.batch_stride_b, a.raw_data(), type, p.lda, p.batch_stride_a, &beta,
                                                  c.raw_data(), type, p.ldc, p.batch_stride_c, p.batch, compute,
                                                  CUBLAS_GEMM_DEFAULT));
  }
}

// ---- linear -----------------------------------------------------------------------------------------------
// out [rows, cols] += bias[col], computing in the accumulate type.
template <typename T>
__global__ void add_bias_rows_kernel(T* __restrict__ out, const T* __restrict__ bias, int64_t rows, int64_t cols) {
  const int64_t total = rows * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = from_acc<T>(to_acc(out[i]) + to_acc(bias[i % cols]));
  }
}

// Largest power of two (<= 256) dividing the address: what cuBLASLt may assume about a pointer.
uint32_t alignment_of(const void* p) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && (addr % a) != 0) a >>= 1;
  return a;
}

struct LtKey {
  int device;
  int dtype;
  int64_t m, n, k, ldx, ldw;
  uint32_t align_x, align_w, align_out, align_bias;
  bool tf32;
  auto tie() const { return std::tie(device, dtype, m, n, k, ldx, ldw, align_x, align_w, align_out, align_bias, tf32); }
  bool operator<(const LtKey& o) const { return tie() < o.tie(); }
};

struct LtChoice {
  bool usable = false;  // false: no algorithm for this problem, use the fallback
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
};

std::mutex lt_mutex;
std::map<LtKey, LtChoice> lt_cache;

// RAII holders for the Lt descriptors.
struct LtDescs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t w = nullptr, x = nullptr, out = nullptr;
  ~LtDescs() {
    if (out) cublasLtMatrixLayoutDestroy(out);
    if (x) cublasLtMatrixLayoutDestroy(x);
    if (w) cublasLtMatrixLayoutDestroy(w);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

// out [M, N] = x [M, K] @ w [N, K]^T + bias [N] with one cuBLASLt call. Column-major view:
// D [N x M] (ld N) = op(W) [N x K] * X [K x M], W stored as col-major [K x N] (ld ldw, transposed)
// and X as col-major [K x M] (ld ldx); the bias has one value per row of D, as BIAS requires.
// Returns false (having done nothing) when cuBLASLt offers no algorithm.
bool linear_lt(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias) {
  const int64_t m = x.size(0), k = x.size(1), n = w.size(0);
  const int64_t ldx = m <= 1 ? std::max<int64_t>(k, 1) : x.stride(0);
  const int64_t ldw = n <= 1 ? std::max<int64_t>(k, 1) : w.stride(0);
  const DType dt = out.dtype();
  const cudaDataType_t type = cuda_dtype(dt);
  const bool tf32 = dt == DType::Float32 && gpu::allow_tf32();
  const cublasComputeType_t compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;

  LtDescs d;
  FF_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d.op, compute, CUDA_R_32F));
  const cublasOperation_t trans_w = CUBLAS_OP_T, trans_x = CUBLAS_OP_N;
  FF_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_w, sizeof(trans_w)));
  FF_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_x, sizeof(trans_x)));
  const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
  FF_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
  const void* bias_ptr = bias.raw_data();
  FF_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof(bias_ptr)));
  FF_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.w, type, k, n, ldw));
  FF_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.x, type, k, m, ldx));
  FF_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.out, type, n, m, n));

  const LtKey key{cuda::current_device(), static_cast<int>(dt), m, n, k, ldx, ldw, alignment_of(x.raw_data()),
                  alignment_of(w.raw_data()), alignment_of(out.raw_data()), alignment_of(bias_ptr), tf32};
  LtChoice choice;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(lt_mutex);
    auto it = lt_cache.find(key);
    if (it != lt_cache.end()) {
      choice = it->second;
      cached = true;
    }
  }
  cublasLtHandle_t handle = cuda::cublaslt_handle();
  if (!cached) {
    cublasLtMatmulPreference_t pref = nullptr;
    FF_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    // Tell the heuristic how aligned the pointers really are (it assumes 256 bytes otherwise).
    // Operand A of the Lt call is the weight, B is x, C and D are out.
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[4] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_w},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_x},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_out},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_out}};
    cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
    for (const auto& [attr, value] : aligns) {
      if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value));
    }
    const uint64_t max_ws = cuda::cublaslt_workspace().bytes;
    if (st == CUBLAS_STATUS_SUCCESS) {
      st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_ws, sizeof(max_ws));
    }
    cublasLtMatmulHeuristicResult_t result{};
    int returned = 0;
    if (st == CUBLAS_STATUS_SUCCESS) {
      st = cublasLtMatmulAlgoGetHeuristic(handle, d.op, d.w, d.x, d.out, d.out, pref, 1, &result, &returned);
    }
    (void)cublasLtMatmulPreferenceDestroy(pref);  // destroying a valid preference cannot fail
    // NOT_SUPPORTED (or no result) just means "use the fallback"; anything else is a real error.
    if (st != CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_NOT_SUPPORTED) FF_CUBLAS_CHECK(st);
    choice.usable = st == CUBLAS_STATUS_SUCCESS && returned > 0 && result.state == CUBLAS_STATUS_SUCCESS;
    if (choice.usable) {
      choice.algo = result.algo;
      choice.workspace = result.workspaceSize;
    }
    std::lock_guard<std::mutex> lock(lt_mutex);
    lt_cache.emplace(key, choice);
  }
  if (!choice.usable) return false;
  // The runtime's per-stream Lt workspace (32 MiB); the heuristic was limited to its size.
  const cuda::Workspace ws = cuda::cublaslt_workspace();
  if (choice.workspace > ws.bytes) return false;
  // With C == D and beta == 0, C is never read.
  const float alpha = 1.0f, beta = 0.0f;
  FF_CUBLAS_CHECK(cublasLtMatmul(handle, d.op, &alpha, w.raw_data(), d.w, x.raw_data(), d.x, &beta, out.raw_data(),
                                 d.out, out.raw_data(), d.out, &choice.algo, ws.data, choice.workspace,
                                 cuda::current_stream()));
  return true;
}

// A [rows, cols] operand cuBLASLt can read as stored: unit column stride, rows >= cols apart.
bool dense_rows(const Tensor& t) {
  return (t.size(1) <= 1 || t.stride(1) == 1) && (t.size(0) <= 1 || t.stride(0) >= std::max<int64_t>(t.size(1), 1));
}

void linear_cuda(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  FF_ASSERT(out.is_contiguous() && x.dim() == 2 && weight.dim() == 2, "linear kernel: bad operands {} {} {}",
            out.describe(), x.describe(), weight.describe());
  if (out.numel() == 0) return;
  const DType dt = out.dtype();
  const bool lt_types = dt == DType::Float32 || dt == DType::Float16 || dt == DType::BFloat16;
  if (bias.defined() && lt_types && x.size(1) > 0 && dense_rows(x) && dense_rows(weight) && bias.is_contiguous() &&
      linear_lt(out, x, weight, bias)) {
    return;
  }
  linear_via_gemm(out, x, weight, Tensor());
  if (!bias.defined()) return;
  const Tensor b = bias.contiguous();
  const int64_t rows = out.size(0), cols = out.size(1);
  cudaStream_t stream = cuda::current_stream();
  FF_CUDA_DISPATCH_FLOATING(dt, "linear", [&] {
    add_bias_rows_kernel<scalar_t><<<grid_for(rows * cols), kThreads, 0, stream>>>(ptr<scalar_t>(out),
                                                                                   ptr<scalar_t>(b), rows, cols);
    FF_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

FF_REGISTER_KERNEL(gemm, CUDA, dispatch::kFloatingTypes, &gemm_cuda);
FF_REGISTER_KERNEL(matmul, CUDA, dispatch::kFloatingTypes, &matmul_via_gemm);
FF_REGISTER_KERNEL(linear, CUDA, dispatch::kFloatingTypes, &linear_cuda);

}  // namespace ff
