#include "models/heads/distributed_ops.h"

#include <limits>
#include <vector>

#include "framework/autograd/autograd.h"
#include "ops/elementwise/binary.h"
#include "ops/elementwise/unary.h"
#include "ops/index/index.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/fill.h"

namespace ff::heads {

Tensor all_gather_rows(distributed::Communicator& comm, const Tensor& x, double grad_scale) {
  check_defined(x, "all_gather_rows", "x");
  FF_CHECK(x.dim() >= 1, "all_gather_rows: x must have a row dimension, got {}", x.describe());
  Tensor out = comm.all_gather(x.detach().contiguous());
  distributed::Communicator* c = &comm;
  autograd::record("all_gather_rows", {x}, {out}, {},
                   [c, grad_scale](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
                     Tensor g = c->reduce_scatter(ctx.grad_outputs[0].contiguous(), distributed::ReduceOp::Sum);
                     return {grad_scale == 1.0 ? g : g * grad_scale};
                   });
  return out;
}

Tensor distributed_cross_entropy(distributed::Communicator& comm, const Tensor& logits, const Tensor& labels) {
  check_defined(logits, "distributed_cross_entropy", "logits");
  check_defined(labels, "distributed_cross_entropy", "labels");
  FF_CHECK(logits.dim() == 2 && is_floating(logits.dtype()),
           "distributed_cross_entropy: logits must be floating [B, S], got {}", logits.describe());
  const int64_t rows = logits.size(0), cols = logits.size(1);
  FF_CHECK(labels.dim() == 1 && labels.size(0) == rows,
           "distributed_cross_entropy: labels {} must be [{}] to match logits {}", labels.describe(), rows,
           logits.describe());
  const Device device = logits.device();
  const DType dtype = logits.dtype();

  // Host side: the target column of owned rows (0 for others, masked out) and the ownership mask.
  const std::vector<int64_t> lv = to_vector<int64_t>(labels.to(DType::Int64));
  std::vector<int64_t> column(rows, 0);
  std::vector<double> owned(rows, 0.0);
  for (int64_t i = 0; i < rows; ++i) {
    FF_CHECK(lv[i] == -1 || (lv[i] >= 0 && lv[i] < cols),
             "distributed_cross_entropy: labels[{}] = {} is out of range for {} local columns (or -1)", i, lv[i], cols);
    if (lv[i] >= 0) column[i] = lv[i], owned[i] = 1.0;
  }
  const Tensor index = tensor_from(column, {rows, 1}).to(device);
  const Tensor owner_mask = tensor_from(owned, {rows, 1}).to(dtype).to(device);

  Tensor loss, probs;
  {
    autograd::NoGradGuard no_grad;
    const Tensor x = logits.detach();
    Tensor row_max = cols > 0 ? max(x, {1}, true).contiguous()
                              : full({rows, 1}, -std::numeric_limits<double>::infinity(), dtype, device);
    comm.all_reduce(row_max, distributed::ReduceOp::Max);
    const Tensor shifted = x - row_max;
    const Tensor e = exp(shifted);
    Tensor sum_exp = cols > 0 ? sum(e, {1}, true).contiguous() : zeros({rows, 1}, dtype, device);
    comm.all_reduce(sum_exp, distributed::ReduceOp::Sum);
    Tensor target = cols > 0 ? (gather(shifted, 1, index) * owner_mask).contiguous() : zeros({rows, 1}, dtype, device);
    comm.all_reduce(target, distributed::ReduceOp::Sum);
    loss = mean(log(sum_exp) - target);  // row i: log Σ_j exp(z_ij − max_i) − (z_iy − max_i)
    probs = e / sum_exp;
  }
  autograd::record("distributed_cross_entropy", {logits}, {loss}, {probs},
                   [index, owner_mask, rows](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
                     const Tensor& p = ctx.saved(0);
                     Tensor grad = p.size(1) > 0 ? scatter_add(p, 1, index, -owner_mask) : p.clone();
                     const Tensor& g = ctx.grad_outputs[0];
                     return {grad * (g.to(grad.dtype()) / static_cast<double>(rows))};
                   });
  return loss;
}

}  // namespace ff::heads
