// Dynamic loss scaling for fp16 mixed-precision training (PyTorch torch.amp.GradScaler semantics).
//
// fp16 gradients underflow below ~6e-8 (and lose precision below ~6e-5); multiplying the loss
// by a large scale S before backward() shifts them into range. Before the optimizer step the
// gradients are divided by S again ("unscaled"). When any gradient holds inf or NaN the scale
// was too large: the step is skipped and S shrinks; after `growth_interval` clean steps in a row
// S grows again.
//
//   amp::GradScaler scaler;                      // init_scale 65536, growth 2, backoff 0.5, interval 2000
//   for (...) {
//     Tensor loss = model_loss(...);              // compute the loss in float32
//     scaler.scale(loss).backward();              // grads are S times too large
//     scaler.unscale_(opt);                       // optional: needed before clipping
//     optim::clip_grad_norm_(params, 5.0);
//     scaler.step(opt);                           // unscales if not done yet; skips on inf/NaN
//     scaler.update();                            // adjusts S for the next iteration
//     opt.zero_grad();
//   }
//
// Device-agnostic: unscaling runs the foreach ops (foreach_norm with p = inf for the
// non-finite check, then foreach_scale_), one call per (device, dtype) bucket of gradients, so
// it works on CPU (testable here) and CUDA. The check reads one float64 per gradient tensor back
// to the host, which synchronises the device once per unscale_() (PyTorch keeps found_inf on
// the device instead; here the host must decide whether to call the optimizer anyway).
//
// Non-finite check happens before the division, on the gradients as backward produced them (as
// PyTorch does): a finite scaled gradient stays finite when divided by S >= 1.
//
// Per-optimizer state is reset by update(). Like PyTorch: unscale_() twice for one optimizer
// between updates, step() twice, or update() with no step()/unscale_() since the last update
// throw ff::Error. fp16 gradients are refused by default (unscaling them in place loses the
// small values the scale was protecting; keep fp32 master weights, whose gradients are fp32),
// unless GradScalerOptions::allow_fp16_grads.
//
// bf16 has fp32's exponent range and needs no loss scaling: construct with enabled(false), which
// makes scale() return the loss unchanged, step() call the optimizer and update() do nothing.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/io/state_dict.h"
#include "framework/optim/optimizer.h"

namespace ff::amp {

struct GradScalerOptions {
  GradScalerOptions() = default;
  FF_OPTIM_OPTION(GradScalerOptions, double, init_scale, 65536.0);   // 2^16
  FF_OPTIM_OPTION(GradScalerOptions, double, growth_factor, 2.0);    // > 1
  FF_OPTIM_OPTION(GradScalerOptions, double, backoff_factor, 0.5);   // in (0, 1)
  FF_OPTIM_OPTION(GradScalerOptions, int64_t, growth_interval, 2000);  // >= 1
  FF_OPTIM_OPTION(GradScalerOptions, bool, enabled, true);
  FF_OPTIM_OPTION(GradScalerOptions, bool, allow_fp16_grads, false);
};

class GradScaler {
 public:
  explicit GradScaler(const GradScalerOptions& options = GradScalerOptions());

  bool enabled() const { return enabled_; }
  double get_scale() const { return enabled_ ? scale_ : 1.0; }
  int64_t growth_tracker() const { return growth_tracker_; }  // clean steps since the last change
  const GradScalerOptions& options() const { return options_; }

  // loss * scale (differentiable, in the loss's dtype and device); the loss itself when disabled.
  Tensor scale(const Tensor& loss) const;

  // Divides the gradients of every parameter of `opt` by the scale, in place, and records
  // whether any of them held inf or NaN. At most once per optimizer between update() calls.
  void unscale_(optim::Optimizer& opt);

  // unscale_() unless already done for `opt`, then opt.step() unless a gradient was non-finite.
  // Returns true when the optimizer stepped.
  bool step(optim::Optimizer& opt);

  // New scale from this iteration's checks: backoff if any optimizer saw inf/NaN (and the growth
  // count restarts), otherwise one more clean step, growing the scale after growth_interval of
  // them (only if the grown scale is finite). Clears the per-optimizer state.
  void update();
  // Sets the scale directly (> 0, finite) and clears the per-optimizer state. Like PyTorch's
  // update(new_scale), the growth count is left as it is.
  void update(double new_scale);
  // update() for an overflow the optimizers' checks did not see (a non-finite loss, or gradients
  // this scaler does not unscale, e.g. a sparse classifier's): back off and restart the growth
  // count, as update() does when an optimizer found inf/NaN. Clears the per-optimizer state.
  void update_after_overflow();

  // Whether the last unscale_() of `opt` since update() found inf/NaN (false if none ran).
  bool found_inf(const optim::Optimizer& opt) const;

  // Lower level: unscales the defined gradients of `params` in place (no state is recorded);
  // returns true if any of them held inf or NaN (those gradients are still divided).
  bool unscale_grads_(const std::vector<Tensor>& params, double inv_scale) const;

  // "scale" float64 [], "growth_factor", "backoff_factor" float64 [], "growth_interval",
  // "growth_tracker" int64 []. load_state_dict validates every key before changing anything.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 private:
  enum class Stage { Ready, Unscaled, Stepped };
  struct PerOptimizer {
    Stage stage = Stage::Ready;
    bool found_inf = false;
  };

  GradScalerOptions options_;
  bool enabled_;
  double scale_;
  int64_t growth_tracker_ = 0;
  std::map<const optim::Optimizer*, PerOptimizer> per_optimizer_;
};

}  // namespace ff::amp
