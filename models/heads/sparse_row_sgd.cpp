#include "models/heads/sparse_row_sgd.h"

#include "ops/optim/optim_common.h"
#include "ops/partial_fc/sparse_rows_sgd.h"
#include "ops/tensor_ops/fill.h"

namespace ff::heads {

void SparseRowSGD::set_sparse_grad_source(const Tensor& param, std::function<SparseRows()> source,
                                          std::function<void()> consumed) {
  FF_CHECK(source, "SparseRowSGD: the sparse gradient source of {} is empty", param.describe());
  for (size_t g = 0; g < num_groups(); ++g) {
    const auto& params = param_group(g).params;
    for (size_t i = 0; i < params.size(); ++i) {
      if (!params[i].is_same(param)) continue;
      FF_CHECK(param.dim() == 2, "SparseRowSGD: a row-sparse parameter must be 2-D, got {}", param.describe());
      for (const auto& s : sparse_) {
        FF_CHECK(!s.param.is_same(param), "SparseRowSGD: {} already has a sparse gradient source", param.describe());
      }
      sparse_.push_back(SparseSlot{g, i, param, std::move(source), std::move(consumed)});
      return;
    }
  }
  FF_THROW("SparseRowSGD: {} is not in any parameter group of this optimizer", param.describe());
}

void SparseRowSGD::update() {
  for (const auto& s : sparse_) {
    FF_CHECK(!s.param.grad().defined(),
             "SparseRowSGD: parameter {} of group {} has a sparse gradient source but also a dense gradient",
             s.index, s.group);
  }
  optim::SGD::update();  // every parameter with a dense gradient
  for (const auto& s : sparse_) {
    const SparseRows g = s.source();
    if (!g.defined()) continue;
    const auto& o = param_group(s.group).options;
    SgdUpdateHyper hyper;
    hyper.lr = o.at("lr");
    hyper.momentum = o.at("momentum");
    hyper.dampening = o.at("dampening");
    hyper.weight_decay = o.at("weight_decay");
    hyper.nesterov = o.at("nesterov") != 0.0;
    hyper.maximize = o.at("maximize") != 0.0;
    Tensor buffer;
    if (hyper.momentum != 0.0) {
      buffer = state_tensor(s.group, s.index, "momentum_buffer");
      if (!buffer.defined()) {
        buffer = zeros(s.param.sizes(), optimizer_state_dtype(s.param.dtype()), s.param.device());
        param_state(s.group, s.index).tensors["momentum_buffer"] = buffer;
      }
    }
    sparse_rows_sgd_update_(s.param, buffer, g.rows, g.values, hyper);
    if (s.consumed) s.consumed();
  }
}

}  // namespace ff::heads
