// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter), with PyTorch
// torch.optim.AdamW semantics. Per parameter p with gradient g at its step t (1, 2, ...):
//
//   p    = p * (1 - lr * weight_decay)
//   m    = beta1 * m + (1 - beta1) * g          v = beta2 * v + (1 - beta2) * g^2
//   vmax = max(vmax, v), used instead of v      (amsgrad only)
//   p    = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//
// arcface_torch uses AdamW for the ViT backbones. Float16/bfloat16 parameters compute in float
// and keep float32 moments. The update is the fused op adamw_update (ops/optim/adamw_update.h),
// one call per (device, dtype).
//
// Options (per group, by name): lr, beta1, beta2, eps, weight_decay, amsgrad (0/1),
// maximize (0/1). Per-parameter state: "exp_avg", "exp_avg_sq" (+ "max_exp_avg_sq" with
// amsgrad) and the step count "step".
#pragma once

#include "framework/optim/optimizer.h"

namespace ff::optim {

// AdamWOptions(1e-3).betas(0.9, 0.999).weight_decay(0.05)
struct AdamWOptions {
  explicit AdamWOptions(double lr = 1e-3) : lr_(lr) {}
  FF_OPTIM_OPTION(AdamWOptions, double, lr, 1e-3);
  FF_OPTIM_OPTION(AdamWOptions, double, beta1, 0.9);
  FF_OPTIM_OPTION(AdamWOptions, double, beta2, 0.999);
  FF_OPTIM_OPTION(AdamWOptions, double, eps, 1e-8);
  FF_OPTIM_OPTION(AdamWOptions, double, weight_decay, 1e-2);
  FF_OPTIM_OPTION(AdamWOptions, bool, amsgrad, false);
  FF_OPTIM_OPTION(AdamWOptions, bool, maximize, false);

 public:
  AdamWOptions& betas(double b1, double b2) { return beta1(b1).beta2(b2); }
  std::map<std::string, double> to_map() const;
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<Tensor> params, const AdamWOptions& options);
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults);

 protected:
  void check_options(const std::map<std::string, double>& options, size_t group) const override;
  std::vector<std::string> state_names(const std::map<std::string, double>& options) const override;
  bool counts_steps() const override { return true; }
  void update() override;
};

}  // namespace ff::optim
