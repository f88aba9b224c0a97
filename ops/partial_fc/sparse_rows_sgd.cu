// CUDA kernel of sparse_rows_sgd_update (float32 and float64 parameters), launched on
// ff::cuda::current_stream(); the kernel itself is in sparse_rows_sgd_kernels.cuh.
#include "framework/cuda/cuda_runtime.h"
#include "framework/dispatch/registry.h"
#include "ops/partial_fc/sparse_rows_sgd.h"
#include "ops/partial_fc/sparse_rows_sgd_kernels.cuh"

namespace ff {
namespace {

template <typename P>
void run_typed(const Tensor& param, const Tensor& momentum_buffer, const Tensor& rows, const Tensor& row_grads,
               const SgdUpdateHyper& hyper) {
  const sparse_sgd_math::Hyper<P> h{static_cast<P>(hyper.lr), static_cast<P>(hyper.momentum),
                                    static_cast<P>(hyper.weight_decay), hyper.maximize ? P(-1) : P(1),
                                    hyper.momentum != 0.0, hyper.nesterov};
  P* buffer = h.use_momentum ? momentum_buffer.data<P>() : nullptr;
  const cudaError_t status = sparse_sgd_cuda::launch_sparse_rows_sgd<P, P>(
      param.data<P>(), buffer, rows.data<int64_t>(), row_grads.data<P>(), rows.numel(), param.size(1), h,
      cuda::current_stream());
  FF_CHECK(status == cudaSuccess, "sparse_rows_sgd_update: CUDA kernel launch failed for {}: {}", param.describe(),
           cudaGetErrorString(status));
}

void sparse_rows_sgd_cuda(const Tensor& param, const Tensor& momentum_buffer, const Tensor& rows,
                          const Tensor& row_grads, const SgdUpdateHyper& hyper) {
  if (param.dtype() == DType::Float64) {
    run_typed<double>(param, momentum_buffer, rows, row_grads, hyper);
  } else {
    FF_CHECK(param.dtype() == DType::Float32, "sparse_rows_sgd_update: CUDA kernel supports float32/float64, got {}",
             param.describe());
    run_typed<float>(param, momentum_buffer, rows, row_grads, hyper);
  }
}

}  // namespace

FF_REGISTER_KERNEL(sparse_rows_sgd_update, CUDA, dispatch::kFloat32And64, &sparse_rows_sgd_cuda);

}  // namespace ff
