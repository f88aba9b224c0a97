// sparse_rows_sgd_update_: the SGD update (PyTorch torch.optim.SGD semantics, as sgd_update in
// ops/optim/sgd_update.h) applied to a few rows of a 2-D parameter, for Partial FC: only the
// class centres sampled in a step are updated; every other row of the parameter *and of its
// momentum buffer* is left exactly as it is (no weight decay, no momentum drift — the Partial
// FC V1 behaviour; arcface_torch V2 decays and drifts every row, see docs/partial_fc.md).
//
// For each k and row r = rows[k], with g = row_grads[k] (computing in acc_t<param dtype>):
//   g = maximize ? -g : g
//   g = g + weight_decay * param[r]
//   if momentum != 0:  buf[r] = momentum * buf[r] + g;  g = nesterov ? g + momentum * buf[r] : buf[r]
//   param[r] = param[r] - lr * g
//
// A momentum row that was never updated holds 0, so its first update is buf = g: PyTorch's
// first-step buffer. That identity needs dampening == 0, which is therefore required.
#pragma once

#include "framework/core/tensor.h"
#include "ops/optim/sgd_update.h"

namespace ff {

// param: contiguous floating [R, D]; momentum_buffer: contiguous [R, D] in
// optimizer_state_dtype(param dtype) (undefined when hyper.momentum == 0); rows: int64 [S],
// strictly increasing, in [0, R) (checked on the host); row_grads: [S, D] in the parameter's
// dtype (any strides). All on one device. Bumps the versions of param and momentum_buffer.
void sparse_rows_sgd_update_(const Tensor& param, const Tensor& momentum_buffer, const Tensor& rows,
                             const Tensor& row_grads, const SgdUpdateHyper& hyper);

// Kernel "sparse_rows_sgd_update", keyed by the parameter's dtype; arguments already checked,
// row_grads contiguous.
using SparseRowsSgdKernel = void (*)(const Tensor& param, const Tensor& momentum_buffer, const Tensor& rows,
                                     const Tensor& row_grads, const SgdUpdateHyper& hyper);

}  // namespace ff
