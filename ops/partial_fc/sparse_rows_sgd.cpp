// sparse_rows_sgd_update_: argument checks and dispatch, then the CPU kernel (CUDA kernel in
// sparse_rows_sgd.cu; the element math in sparse_rows_sgd_math.h).
#include "ops/partial_fc/sparse_rows_sgd.h"

#include <algorithm>
#include <cmath>

#include "framework/core/parallel.h"
#include "framework/dispatch/registry.h"
#include "ops/optim/optim_common.h"
#include "ops/partial_fc/sparse_rows_sgd_math.h"

namespace ff {

FF_REGISTER_OP(sparse_rows_sgd_update, dispatch::kNoFlags);

namespace {

// rows must be strictly increasing (so every row is updated once) and inside [0, num_rows).
void check_rows(const Tensor& rows, int64_t num_rows) {
  const Tensor host = rows.device().is_cpu() ? rows.contiguous() : rows.to(Device());
  const int64_t* r = host.data<int64_t>();
  for (int64_t k = 0; k < host.numel(); ++k) {
    FF_CHECK(r[k] >= 0 && r[k] < num_rows,
             "sparse_rows_sgd_update: rows[{}] = {} is out of range for a parameter of {} rows", k, r[k], num_rows);
    FF_CHECK(k == 0 || r[k] > r[k - 1],
             "sparse_rows_sgd_update: rows must be strictly increasing, but rows[{}] = {} follows rows[{}] = {}", k,
             r[k], k - 1, r[k - 1]);
  }
}

}  // namespace

void sparse_rows_sgd_update_(const Tensor& param, const Tensor& momentum_buffer, const Tensor& rows,
                             const Tensor& row_grads, const SgdUpdateHyper& hyper) {
  constexpr const char* op = "sparse_rows_sgd_update";
  check_defined(param, op, "param");
  check_defined(rows, op, "rows");
  check_defined(row_grads, op, "row_grads");
  FF_CHECK(std::isfinite(hyper.lr) && hyper.lr >= 0.0, "{}: invalid learning rate {}", op, hyper.lr);
  FF_CHECK(hyper.momentum >= 0.0 && hyper.weight_decay >= 0.0, "{}: momentum {} and weight_decay {} must be >= 0",
           op, hyper.momentum, hyper.weight_decay);
  FF_CHECK(hyper.dampening == 0.0,
           "{}: dampening must be 0, got {} (momentum rows start at zero, which equals PyTorch's first-step buffer "
           "only without dampening)",
           op, hyper.dampening);
  FF_CHECK(!hyper.nesterov || hyper.momentum > 0.0, "{}: nesterov momentum requires momentum > 0", op);
  FF_CHECK(is_floating(param.dtype()) && param.dim() == 2 && param.is_contiguous(),
           "{}: param must be a contiguous floating [R, D] tensor, got {}", op, param.describe());
  FF_CHECK(rows.dtype() == DType::Int64 && rows.dim() == 1, "{}: rows must be int64 [S], got {}", op, rows.describe());
  FF_CHECK(row_grads.dim() == 2 && row_grads.size(0) == rows.size(0) && row_grads.size(1) == param.size(1),
           "{}: row_grads {} must be [{}, {}] (one row per entry of rows {}, param {})", op, row_grads.describe(),
           rows.size(0), param.size(1), rows.describe(), param.describe());
  check_same_device({param, rows, row_grads}, op);
  if (hyper.momentum != 0.0) {
    check_defined(momentum_buffer, op, "momentum_buffer");
    FF_CHECK(momentum_buffer.sizes() == param.sizes() && momentum_buffer.is_contiguous() &&
                 momentum_buffer.dtype() == optimizer_state_dtype(param.dtype()),
             "{}: momentum_buffer {} must be a contiguous {} tensor shaped like param {}", op,
             momentum_buffer.describe(), dtype_name(optimizer_state_dtype(param.dtype())), param.describe());
    check_same_device({param, momentum_buffer}, op);
  }
  check_rows(rows, param.size(0));
  if (rows.numel() == 0) return;
  const Tensor grads = (row_grads.dtype() == param.dtype() ? row_grads : row_grads.to(param.dtype())).contiguous();
  static const dispatch::OpHandle handle(op);
  handle.kernel<SparseRowsSgdKernel>(param.device().type, param.dtype())(param, momentum_buffer, rows.contiguous(),
                                                                        grads, hyper);
  param.storage()->bump_version();
  if (hyper.momentum != 0.0) momentum_buffer.storage()->bump_version();
}

// ---- CPU kernel ------------------------------------------------------------------------------------
namespace {

template <typename P>
void sparse_rows_sgd_cpu_typed(const Tensor& param, const Tensor& momentum_buffer, const Tensor& rows,
                               const Tensor& row_grads, const SgdUpdateHyper& hyper) {
  using A = acc_t<P>;
  const sparse_sgd_math::Hyper<A> h{static_cast<A>(hyper.lr), static_cast<A>(hyper.momentum),
                                    static_cast<A>(hyper.weight_decay), hyper.maximize ? A(-1) : A(1),
                                    hyper.momentum != 0.0, hyper.nesterov};
  const int64_t width = param.size(1), count = rows.numel();
  P* p = param.data<P>();
  A* b = h.use_momentum ? momentum_buffer.data<A>() : nullptr;
  const int64_t* r = rows.data<int64_t>();
  const P* g = row_grads.data<P>();
  A unused = A(0);
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, width));
  parallel_for(0, count, grain, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      P* prow = p + r[k] * width;
      A* brow = b ? b + r[k] * width : nullptr;
      const P* grow = g + k * width;
      for (int64_t j = 0; j < width; ++j) {
        A scratch = unused;
        A* buf = brow ? brow + j : &scratch;
        prow[j] = static_cast<P>(
            sparse_sgd_math::update_element(static_cast<A>(prow[j]), static_cast<A>(grow[j]), buf, h));
      }
    }
  });
}

void sparse_rows_sgd_cpu(const Tensor& param, const Tensor& momentum_buffer, const Tensor& rows,
                         const Tensor& row_grads, const SgdUpdateHyper& hyper) {
  FF_DISPATCH_FLOATING(param.dtype(), "sparse_rows_sgd_update",
                       [&] { sparse_rows_sgd_cpu_typed<scalar_t>(param, momentum_buffer, rows, row_grads, hyper); });
}

}  // namespace

FF_REGISTER_KERNEL(sparse_rows_sgd_update, CPU, dispatch::kFloatingTypes, &sparse_rows_sgd_cpu);

}  // namespace ff
