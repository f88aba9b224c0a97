#include "framework/optim/lr_scheduler.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "ops/tensor_ops/fill.h"

namespace ff::optim {

namespace {
constexpr double kPi = 3.14159265358979323846;
}

LRScheduler::LRScheduler(std::string name, Optimizer& optimizer) : name_(std::move(name)), optimizer_(optimizer) {
  for (size_t g = 0; g < optimizer_.num_groups(); ++g) base_lrs_.push_back(optimizer_.lr(g));
}

void LRScheduler::initialize() {
  last_step_ = 0;
  apply();
}

void LRScheduler::step() {
  ++last_step_;
  apply();
}

void LRScheduler::apply() {
  FF_CHECK(optimizer_.num_groups() == base_lrs_.size(),
           "{}: the optimizer has {} parameter group(s) but the scheduler was built for {}; parameter groups "
           "cannot be added after the scheduler",
           name_, optimizer_.num_groups(), base_lrs_.size());
  last_lrs_.clear();
  for (size_t g = 0; g < base_lrs_.size(); ++g) {
    const double lr = lr_at(last_step_, base_lrs_[g]);
    optimizer_.set_lr(g, lr);
    last_lrs_.push_back(lr);
  }
}

StateDict LRScheduler::state_dict() const {
  StateDict out;
  out["last_step"] = full({}, static_cast<double>(last_step_), DType::Int64);
  for (size_t g = 0; g < base_lrs_.size(); ++g) out[fmt::format("base_lrs.{}", g)] = full({}, base_lrs_[g], DType::Float64);
  for (const auto& [key, value] : config()) out["config." + key] = full({}, value, DType::Float64);
  return out;
}

void LRScheduler::load_state_dict(const StateDict& state) {
  auto scalar = [&](const std::string& key, const Tensor& t) {
    FF_CHECK(t.defined() && t.numel() == 1 && t.dtype() != DType::Bool,
             "{}: scheduler state '{}' must be a one-element numeric tensor, got {}", name_, key, t.describe());
    return t.item<double>();
  };
  const auto current = config();
  bool have_step = false;
  int64_t step = 0;
  std::vector<double> base(base_lrs_.size());
  std::vector<bool> have_base(base_lrs_.size(), false);
  for (const auto& [key, t] : state) {
    if (key == "last_step") {
      FF_CHECK(t.defined() && t.numel() == 1 && is_integral(t.dtype()) && t.dtype() != DType::Bool,
               "{}: scheduler state 'last_step' must be a one-element integer tensor, got {}", name_, t.describe());
      step = t.item<int64_t>();
      FF_CHECK(step >= 0, "{}: scheduler state has a negative last_step {}", name_, step);
      have_step = true;
    } else if (key.rfind("base_lrs.", 0) == 0) {
      const std::string index = key.substr(9);
      size_t g = base.size();
      const bool digits = std::all_of(index.begin(), index.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
      if (!index.empty() && index.size() < 9 && digits) {
        g = static_cast<size_t>(std::stoll(index));
      }
      FF_CHECK(g < base.size(), "{}: scheduler state key '{}' does not match the optimizer's {} parameter group(s)",
               name_, key, base.size());
      base[g] = scalar(key, t);
      FF_CHECK(std::isfinite(base[g]) && base[g] >= 0.0, "{}: scheduler state '{}' holds an invalid lr {}", name_, key,
               base[g]);
      have_base[g] = true;
    } else if (key.rfind("config.", 0) == 0) {
      const std::string setting = key.substr(7);
      const auto it = current.find(setting);
      FF_CHECK(it != current.end(), "{}: scheduler state has setting '{}', which this scheduler does not have (was it "
               "saved by a different scheduler type?)", name_, setting);
      const double saved = scalar(key, t);
      FF_CHECK(saved == it->second,
               "{}: scheduler state was saved with {} = {}, but this scheduler has {} = {}; remove the 'config.*' "
               "entries to resume under the new settings on purpose",
               name_, setting, saved, setting, it->second);
    } else {
      FF_THROW("{}: unexpected key '{}' in scheduler state", name_, key);
    }
  }
  FF_CHECK(have_step, "{}: scheduler state has no 'last_step' entry", name_);
  for (size_t g = 0; g < base.size(); ++g) {
    FF_CHECK(have_base[g], "{}: scheduler state has no 'base_lrs.{}' entry (the optimizer has {} parameter group(s))",
             name_, g, base.size());
  }
  base_lrs_ = std::move(base);
  last_step_ = step;
  apply();
}

// ---- PolynomialLRWarmup --------------------------------------------------------------------------
PolynomialLRWarmup::PolynomialLRWarmup(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double power,
                                       bool step0_uses_base_lr)
    : LRScheduler("PolynomialLRWarmup", optimizer),
      warmup_steps_(warmup_steps),
      total_steps_(total_steps),
      power_(power),
      step0_uses_base_lr_(step0_uses_base_lr) {
  FF_CHECK(warmup_steps >= 0, "PolynomialLRWarmup: warmup_steps must be >= 0, got {}", warmup_steps);
  FF_CHECK(total_steps > warmup_steps,
           "PolynomialLRWarmup: total_steps ({}) must be greater than warmup_steps ({}); check num_epoch, "
           "warmup_epoch and the batch size",
           total_steps, warmup_steps);
  FF_CHECK(std::isfinite(power) && power > 0.0, "PolynomialLRWarmup: power must be finite and > 0, got {}", power);
  initialize();
}

double PolynomialLRWarmup::lr_at(int64_t step, double base_lr) const {
  FF_CHECK(step >= 0, "PolynomialLRWarmup: negative step {}", step);
  if (step == 0 && (step0_uses_base_lr_ || warmup_steps_ == 0)) return base_lr;
  if (step <= warmup_steps_) return base_lr * static_cast<double>(step) / static_cast<double>(warmup_steps_);
  const double w = static_cast<double>(warmup_steps_), t = static_cast<double>(total_steps_);
  const double l = static_cast<double>(std::min(total_steps_, step));
  return base_lr * std::pow(1.0 - (l - w) / (t - w), power_);
}

std::map<std::string, double> PolynomialLRWarmup::config() const {
  return {{"warmup_steps", static_cast<double>(warmup_steps_)},
          {"total_steps", static_cast<double>(total_steps_)},
          {"power", power_},
          {"step0_uses_base_lr", step0_uses_base_lr_ ? 1.0 : 0.0}};
}

// ---- MultiStepLR -----------------------------------------------------------------------------------------
MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma)
    : LRScheduler("MultiStepLR", optimizer), milestones_(std::move(milestones)), gamma_(gamma) {
  for (size_t k = 0; k < milestones_.size(); ++k) {
    FF_CHECK(milestones_[k] >= 1, "MultiStepLR: milestone {} is {}; milestones must be >= 1", k, milestones_[k]);
    FF_CHECK(k == 0 || milestones_[k] > milestones_[k - 1],
             "MultiStepLR: milestones must be strictly increasing, got {} after {}", milestones_[k], milestones_[k - 1]);
  }
  FF_CHECK(std::isfinite(gamma) && gamma > 0.0, "MultiStepLR: gamma must be finite and > 0, got {}", gamma);
  initialize();
}

double MultiStepLR::lr_at(int64_t step, double base_lr) const {
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
  return base_lr * std::pow(gamma_, static_cast<double>(passed));
}

std::map<std::string, double> MultiStepLR::config() const {
  std::map<std::string, double> c{{"gamma", gamma_}, {"num_milestones", static_cast<double>(milestones_.size())}};
  for (size_t k = 0; k < milestones_.size(); ++k) {
    c[fmt::format("milestones.{}", k)] = static_cast<double>(milestones_[k]);
  }
  return c;
}

// ---- CosineAnnealingLR ---------------------------------------------------------------------------------
CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min, int64_t warmup_steps)
    : LRScheduler("CosineAnnealingLR", optimizer), t_max_(t_max), eta_min_(eta_min), warmup_steps_(warmup_steps) {
  FF_CHECK(warmup_steps >= 0, "CosineAnnealingLR: warmup_steps must be >= 0, got {}", warmup_steps);
  FF_CHECK(t_max > warmup_steps, "CosineAnnealingLR: T_max ({}) must be greater than warmup_steps ({})", t_max,
           warmup_steps);
  FF_CHECK(std::isfinite(eta_min) && eta_min >= 0.0, "CosineAnnealingLR: eta_min must be finite and >= 0, got {}",
           eta_min);
  initialize();
}

double CosineAnnealingLR::lr_at(int64_t step, double base_lr) const {
  FF_CHECK(step >= 0, "CosineAnnealingLR: negative step {}", step);
  if (step < warmup_steps_) return base_lr * static_cast<double>(step) / static_cast<double>(warmup_steps_);
  const double phase = static_cast<double>(step - warmup_steps_) / static_cast<double>(t_max_ - warmup_steps_);
  return eta_min_ + (base_lr - eta_min_) * (1.0 + std::cos(kPi * phase)) / 2.0;
}

std::map<std::string, double> CosineAnnealingLR::config() const {
  return {{"t_max", static_cast<double>(t_max_)},
          {"eta_min", eta_min_},
          {"warmup_steps", static_cast<double>(warmup_steps_)}};
}

}  // namespace ff::optim
