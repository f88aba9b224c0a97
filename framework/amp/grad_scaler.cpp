#include "framework/amp/grad_scaler.h"

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "framework/autograd/autograd.h"
#include "ops/optim/foreach.h"
#include "ops/tensor_ops/fill.h"

namespace ff::amp {

namespace {

void check_options(const GradScalerOptions& o) {
  FF_CHECK(std::isfinite(o.init_scale()) && o.init_scale() > 0.0, "GradScaler: init_scale must be finite and > 0, got {}",
           o.init_scale());
  FF_CHECK(std::isfinite(o.growth_factor()) && o.growth_factor() > 1.0,
           "GradScaler: growth_factor must be finite and > 1, got {}", o.growth_factor());
  FF_CHECK(o.backoff_factor() > 0.0 && o.backoff_factor() < 1.0, "GradScaler: backoff_factor must lie in (0, 1), got {}",
           o.backoff_factor());
  FF_CHECK(o.growth_interval() >= 1, "GradScaler: growth_interval must be >= 1, got {}", o.growth_interval());
}

}  // namespace

GradScaler::GradScaler(const GradScalerOptions& options)
    : options_(options), enabled_(options.enabled()), scale_(options.init_scale()) {
  check_options(options_);
}

Tensor GradScaler::scale(const Tensor& loss) const {
  check_defined(loss, "GradScaler::scale", "loss");
  if (!enabled_) return loss;
  FF_CHECK(is_floating(loss.dtype()), "GradScaler::scale: the loss must be floating point, got {}", loss.describe());
  return loss * scale_;
}

bool GradScaler::unscale_grads_(const std::vector<Tensor>& params, double inv_scale) const {
  autograd::NoGradGuard no_grad;
  // Defined gradients bucketed by (device type, device index, dtype): one foreach call each.
  std::map<std::tuple<int, int, int>, std::vector<Tensor>> buckets;
  std::set<const TensorImpl*> seen;  // a parameter listed twice is unscaled once
  for (size_t i = 0; i < params.size(); ++i) {
    FF_CHECK(params[i].defined(), "GradScaler::unscale_: parameter {} is an undefined tensor", i);
    const Tensor g = params[i].grad();
    if (!g.defined() || !seen.insert(params[i].impl()).second) continue;
    FF_CHECK(options_.allow_fp16_grads() || g.dtype() != DType::Float16,
             "GradScaler::unscale_: parameter {} ({}) has a float16 gradient; unscaling float16 gradients in place "
             "loses the small values loss scaling protects. Keep float32 master parameters (or set "
             "GradScalerOptions::allow_fp16_grads)",
             i, params[i].describe());
    FF_CHECK(is_floating(g.dtype()), "GradScaler::unscale_: gradient of parameter {} is {}", i, g.describe());
    buckets[{static_cast<int>(g.device().type), g.device().index, static_cast<int>(g.dtype())}].push_back(g);
  }
  bool found = false;
  for (const auto& kv : buckets) {
    const std::vector<Tensor>& grads = kv.second;
    // The max |g| of every tensor is finite iff the tensor is: one float64 per tensor comes back.
    const std::vector<double> maxima = to_vector<double>(foreach_norm(grads, std::numeric_limits<double>::infinity()));
    for (double m : maxima) found = found || !std::isfinite(m);
    if (inv_scale != 1.0) foreach_scale_(grads, inv_scale);
  }
  return found;
}

void GradScaler::unscale_(optim::Optimizer& opt) {
  if (!enabled_) return;
  PerOptimizer& state = per_optimizer_[&opt];
  FF_CHECK(state.stage != Stage::Unscaled,
           "GradScaler::unscale_: unscale_() has already been called on this optimizer ({}) since the last update()",
           opt.name());
  FF_CHECK(state.stage != Stage::Stepped, "GradScaler::unscale_: unscale_() is being called after step() ({})",
           opt.name());
  std::vector<Tensor> params;
  for (size_t g = 0; g < opt.num_groups(); ++g) {
    const auto& ps = opt.param_group(g).params;
    params.insert(params.end(), ps.begin(), ps.end());
  }
  // 1 / scale in double (PyTorch rounds it to float32; every scale here is a power of two
  // times the initial scale, for which both are exact).
  state.found_inf = unscale_grads_(params, 1.0 / scale_);
  state.stage = Stage::Unscaled;
}

bool GradScaler::step(optim::Optimizer& opt) {
  if (!enabled_) {
    opt.step();
    return true;
  }
  PerOptimizer& state = per_optimizer_[&opt];
  FF_CHECK(state.stage != Stage::Stepped,
           "GradScaler::step: step() has already been called on this optimizer ({}) since the last update()",
           opt.name());
  if (state.stage == Stage::Ready) unscale_(opt);
  PerOptimizer& after = per_optimizer_[&opt];
  after.stage = Stage::Stepped;
  if (after.found_inf) return false;  // skip: the gradients are not trustworthy this iteration
  opt.step();
  return true;
}

void GradScaler::update() {
  if (!enabled_) return;
  FF_CHECK(!per_optimizer_.empty(),
           "GradScaler::update: no inf checks were recorded since the last update(); call step() (or unscale_()) "
           "first");
  bool found = false;
  for (const auto& kv : per_optimizer_) found = found || kv.second.found_inf;
  if (found) {
    scale_ *= options_.backoff_factor();
    growth_tracker_ = 0;
  } else if (++growth_tracker_ == options_.growth_interval()) {
    const double grown = scale_ * options_.growth_factor();
    if (std::isfinite(grown)) scale_ = grown;
    growth_tracker_ = 0;
  }
  per_optimizer_.clear();
}

void GradScaler::update(double new_scale) {
  if (!enabled_) return;
  FF_CHECK(std::isfinite(new_scale) && new_scale > 0.0, "GradScaler::update: new scale must be finite and > 0, got {}",
           new_scale);
  scale_ = new_scale;
  per_optimizer_.clear();
}

void GradScaler::update_after_overflow() {
  if (!enabled_) return;
  scale_ *= options_.backoff_factor();
  growth_tracker_ = 0;
  per_optimizer_.clear();
}

bool GradScaler::found_inf(const optim::Optimizer& opt) const {
  auto it = per_optimizer_.find(&opt);
  return it != per_optimizer_.end() && it->second.found_inf;
}

StateDict GradScaler::state_dict() const {
  StateDict out;
  out["scale"] = full({}, scale_, DType::Float64);
  out["growth_factor"] = full({}, options_.growth_factor(), DType::Float64);
  out["backoff_factor"] = full({}, options_.backoff_factor(), DType::Float64);
  out["growth_interval"] = full({}, static_cast<double>(options_.growth_interval()), DType::Int64);
  out["growth_tracker"] = full({}, static_cast<double>(growth_tracker_), DType::Int64);
  return out;
}

void GradScaler::load_state_dict(const StateDict& state) {
  static const char* const kKeys[] = {"scale", "growth_factor", "backoff_factor", "growth_interval", "growth_tracker"};
  for (const auto& kv : state) {
    bool known = false;
    for (const char* k : kKeys) known = known || kv.first == k;
    FF_CHECK(known, "GradScaler::load_state_dict: unexpected key '{}'", kv.first);
  }
  for (const char* k : kKeys) {
    auto it = state.find(k);
    FF_CHECK(it != state.end(), "GradScaler::load_state_dict: missing key '{}'", k);
    FF_CHECK(it->second.defined() && it->second.numel() == 1,
             "GradScaler::load_state_dict: '{}' must hold one value, got {}", k, it->second.describe());
  }
  GradScalerOptions o = options_;
  o.growth_factor(state.at("growth_factor").item<double>());
  o.backoff_factor(state.at("backoff_factor").item<double>());
  o.growth_interval(state.at("growth_interval").item<int64_t>());
  const double scale = state.at("scale").item<double>();
  const int64_t tracker = state.at("growth_tracker").item<int64_t>();
  check_options(o);
  FF_CHECK(std::isfinite(scale) && scale > 0.0, "GradScaler::load_state_dict: scale must be finite and > 0, got {}",
           scale);
  FF_CHECK(tracker >= 0 && tracker < o.growth_interval(),
           "GradScaler::load_state_dict: growth_tracker {} must lie in [0, growth_interval {})", tracker,
           o.growth_interval());
  options_ = o;
  scale_ = scale;
  growth_tracker_ = tracker;
  per_optimizer_.clear();
}

}  // namespace ff::amp
