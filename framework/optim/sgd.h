// SGD with momentum, dampening, Nesterov momentum and (coupled, L2) weight decay, with
// PyTorch torch.optim.SGD semantics. Per parameter p with gradient g, every step():
//
//   d   = g + weight_decay * p                 (g negated first when maximize)
//   buf = d                                    on the buffer's first step, else
//   buf = momentum * buf + (1 - dampening) * d
//   d   = nesterov ? d + momentum * buf : buf  (only when momentum != 0)
//   p   = p - lr * d
//
// arcface_torch: SGD(lr, momentum 0.9, weight_decay 5e-4) on all parameters, stepped through
// PolynomialLRWarmup. Float16/bfloat16 parameters compute in float and keep a float32 buffer.
// The update is the fused op sgd_update (ops/optim/sgd_update.h), one call per (device, dtype).
//
// Options (per group, by name): lr, momentum, dampening, weight_decay, nesterov (0/1),
// maximize (0/1). Per-parameter state: "momentum_buffer" (only when momentum != 0).
#pragma once

#include "framework/optim/optimizer.h"

namespace ff::optim {

// SGDOptions(0.1).momentum(0.9).weight_decay(5e-4).nesterov(true)
struct SGDOptions {
  explicit SGDOptions(double lr) : lr_(lr) {}
  FF_OPTIM_OPTION(SGDOptions, double, lr, 0.0);
  FF_OPTIM_OPTION(SGDOptions, double, momentum, 0.0);
  FF_OPTIM_OPTION(SGDOptions, double, dampening, 0.0);
  FF_OPTIM_OPTION(SGDOptions, double, weight_decay, 0.0);
  FF_OPTIM_OPTION(SGDOptions, bool, nesterov, false);  // requires momentum > 0 and dampening == 0
  FF_OPTIM_OPTION(SGDOptions, bool, maximize, false);

 public:
  std::map<std::string, double> to_map() const;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults);

 protected:
  void check_options(const std::map<std::string, double>& options, size_t group) const override;
  std::vector<std::string> state_names(const std::map<std::string, double>& options) const override;
  void update() override;
};

}  // namespace ff::optim
