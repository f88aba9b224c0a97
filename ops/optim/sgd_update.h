// sgd_update: the fused SGD parameter update (PyTorch torch.optim.SGD semantics), applied in
// place to a list of parameters that share one device and dtype.
//
// For every element, computing in acc_t<param dtype> (float for float16/bfloat16):
//   g   = maximize ? -grad : grad
//   g   = g + weight_decay * p                           (L2 penalty, coupled)
//   if momentum != 0:
//     buf = fresh ? g : momentum * buf + (1 - dampening) * g   (fresh: the buffer's first step)
//     g   = nesterov ? g + momentum * buf : buf
//   p   = p - lr * g
//
// Shapes: grads[i] and momentum_buffers[i] have params[i]'s shape. Grads have the parameter
// dtype; momentum buffers have optimizer_state_dtype(param dtype). Any strides are accepted.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/core/tensor.h"
#include "ops/optim/optim_common.h"

namespace ff {

struct SgdUpdateHyper {
  double lr = 0.0;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0
  bool maximize = false;
};

struct SgdUpdateLists {
  std::vector<Tensor> params;            // updated in place
  std::vector<Tensor> grads;             // read only
  std::vector<Tensor> momentum_buffers;  // updated in place; empty when momentum == 0
  // One flag per parameter when momentum != 0: 1 = the buffer holds no history yet and is
  // initialised to the current (decayed) gradient instead of being averaged into.
  std::vector<uint8_t> buffer_is_fresh;
};

// Validates the lists and hyper-parameters, then runs the kernel for the parameters'
// (device, dtype). Not recorded by autograd; bumps the version of every tensor it writes.
void sgd_update_(const SgdUpdateLists& lists, const SgdUpdateHyper& hyper);

using SgdUpdateKernel = void (*)(const SgdUpdateLists& lists, const SgdUpdateHyper& hyper);

}  // namespace ff
