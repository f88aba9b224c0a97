// CUDA kernel of concat. out (contiguous) is viewed as [outer, out.size(dim) * inner]; input i
// fills columns [offset_i * inner, (offset_i + size_i) * inner) of every outer row. A contiguous
// input is one cudaMemcpy2DAsync (a pitched copy: `outer` rows of its block); a strided one
// goes through the CUDA copy kernel into its slab of out.
#include "framework/dispatch/registry.h"
#include "framework/cuda/cuda_runtime.h"
#include "ops/shape/shape.h"
#include "ops/tensor_ops/copy.h"

namespace ff {
namespace {

void concat_cuda(const Tensor& out, const std::vector<Tensor>& inputs, int64_t dim) {
  FF_ASSERT(out.is_contiguous(), "concat: output {} must be contiguous", out.describe());
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < dim; ++k) outer *= out.size(k);
  for (int64_t k = dim + 1; k < out.dim(); ++k) inner *= out.size(k);
  const size_t elem = out.element_size();
  const size_t out_row_bytes = static_cast<size_t>(out.size(dim) * inner) * elem;
  char* out_base = static_cast<char*>(out.raw_data());
  const int device = out.device().index;
  cuda::DeviceGuard guard(device);
  const cudaStream_t stream = cuda::current_stream(device);
  int64_t offset = 0;
  for (const Tensor& in : inputs) {
    FF_ASSERT(in.dtype() == out.dtype() && in.device() == out.device(), "concat: input {} does not match output {}",
              in.describe(), out.describe());
    const int64_t length = in.size(dim);
    const size_t block_bytes = static_cast<size_t>(length * inner) * elem;
    if (block_bytes > 0 && outer > 0) {
      if (in.is_contiguous()) {
        FF_CUDA_CHECK(cudaMemcpy2DAsync(out_base + static_cast<size_t>(offset * inner) * elem, out_row_bytes,
                                        in.raw_data(), block_bytes, block_bytes, static_cast<size_t>(outer),
                                        cudaMemcpyDeviceToDevice, stream));
      } else {
        copy_into(out.narrow(dim, offset, length), in);  // same dtype and device: the CUDA copy kernel
      }
    }
    offset += length;
  }
}

}  // namespace

FF_REGISTER_KERNEL(concat, CUDA, dispatch::kAllTypes, &concat_cuda);

}  // namespace ff
