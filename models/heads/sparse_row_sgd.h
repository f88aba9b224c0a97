// SparseRowSGD: torch.optim.SGD for ordinary parameters, plus row-sparse updates for
// parameters whose gradient arrives as a few rows (the Partial FC class-centre shard).
//
//   heads::SparseRowSGD opt({ParamGroup(backbone->parameters()), ParamGroup(pfc->parameters())},
//                           optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4));
//   pfc->attach_to(opt);        // the shard's gradient now comes from pfc->sparse_grad()
//   ...
//   loss.backward();
//   opt.step();                 // dense SGD on the backbone, sparse_rows_sgd_update_ on the shard
//   opt.zero_grad();
//
// On a sparse parameter only the gradient's rows change: weight decay and momentum touch
// nothing else, and unsampled rows keep their values and momentum (docs/partial_fc.md). The
// momentum buffer is the full parameter shape, zero-initialised, saved by state_dict() like
// any SGD buffer ("state.<g>.<i>.momentum_buffer"), so LR schedulers and checkpoints work
// unchanged. Requires dampening == 0 on groups holding sparse parameters.
#pragma once

#include <functional>
#include <vector>

#include "framework/optim/sgd.h"

namespace ff::heads {

// Rows of a 2-D parameter's gradient: rows int64 [S], strictly increasing; values [S, D].
struct SparseRows {
  Tensor rows;
  Tensor values;
  bool defined() const { return rows.defined() && values.defined(); }
};

class SparseRowSGD : public optim::SGD {
 public:
  using optim::SGD::SGD;

  // `param` (already in a group) takes its gradient from `source` at every step; `consumed`
  // runs after the rows were applied (e.g. to clear them). A parameter with a sparse source
  // must not also carry a dense gradient.
  void set_sparse_grad_source(const Tensor& param, std::function<SparseRows()> source,
                              std::function<void()> consumed = {});

 protected:
  void update() override;

 private:
  struct SparseSlot {
    size_t group = 0, index = 0;
    Tensor param;
    std::function<SparseRows()> source;
    std::function<void()> consumed;
  };
  std::vector<SparseSlot> sparse_;
};

}  // namespace ff::heads
