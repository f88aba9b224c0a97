// Learning-rate schedules, stepped once per training iteration (arcface_torch steps its
// scheduler every iteration, accumulation steps included).
//
// Each scheduler is a closed-form function lr(step, base_lr) of the step count; base_lr is
// each group's lr when the scheduler was constructed. Construction applies lr(0) to the
// optimizer (PyTorch's initial step); step() advances the count and applies lr(count).
//
//   PolynomialLRWarmup(w, T, power)           arcface_torch's lr_scheduler.py, l = step count:
//       l == 0:      lr = base                (arcface_torch quirk, see below)
//       0 < l <= w:  lr = base * l / w
//       l > w:       lr = base * (1 - (min(T, l) - w) / (T - w))^power     (0 from l = T on)
//   MultiStepLR(milestones, gamma)            lr = base * gamma^(number of milestones <= l)
//   CosineAnnealingLR(T_max, eta_min, w = 0)  l < w: lr = base * l / w    (optional warmup)
//       l >= w:  lr = eta_min + (base - eta_min) * (1 + cos(pi * (l - w) / (T_max - w))) / 2
//       (w = 0 is torch.optim.lr_scheduler.CosineAnnealingLR; like it, the cosine continues
//       past T_max)
//
// arcface_torch quirk: its PolynomialLRWarmup.get_lr() returns the optimizer's current lr when
// last_epoch == 0, so the very first iteration runs at the full base lr, not base * 0 / w.
// FaceFlow reproduces that by default; set step0_uses_base_lr = false for the pure formula
// (lr 0 at step 0).
//
// state_dict(): "last_step" int64 [], "base_lrs.<g>" float64 [] and the schedule's settings as
// "config.<name>" float64 []. load_state_dict() restores the step count and base lrs, re-applies
// the lr to the optimizer, and refuses a state whose saved settings differ from this
// scheduler's (a resumed run would silently follow a different schedule); drop the config.*
// entries to resume deliberately under new settings.
//
// A scheduler keeps a reference to its optimizer, which must outlive it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/io/state_dict.h"
#include "framework/optim/optimizer.h"

namespace ff::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  const std::string& name() const { return name_; }
  void step();  // advances one iteration and sets every group's lr
  int64_t last_step() const { return last_step_; }
  const std::vector<double>& get_last_lr() const { return last_lrs_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  // The schedule's value for `step` and base lr `base_lr`, without changing anything.
  virtual double lr_at(int64_t step, double base_lr) const = 0;

  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 protected:
  LRScheduler(std::string name, Optimizer& optimizer);
  // Derived constructors call this once their settings are validated (applies lr(0)).
  void initialize();
  // The settings saved as "config.<name>" and compared on load.
  virtual std::map<std::string, double> config() const = 0;

 private:
  void apply();

  std::string name_;
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lrs_;
  int64_t last_step_ = 0;
};

class PolynomialLRWarmup : public LRScheduler {
 public:
  // 0 <= warmup_steps < total_steps; power > 0 (1 = linear decay).
  PolynomialLRWarmup(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double power = 1.0,
                     bool step0_uses_base_lr = true);
  double lr_at(int64_t step, double base_lr) const override;

 protected:
  std::map<std::string, double> config() const override;

 private:
  int64_t warmup_steps_, total_steps_;
  double power_;
  bool step0_uses_base_lr_;
};

class MultiStepLR : public LRScheduler {
 public:
  // milestones: strictly increasing, >= 1; gamma: finite, > 0.
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);
  double lr_at(int64_t step, double base_lr) const override;

 protected:
  std::map<std::string, double> config() const override;

 private:
  std::vector<int64_t> milestones_;
  double gamma_;
};

class CosineAnnealingLR : public LRScheduler {
 public:
  // 0 <= warmup_steps < t_max; eta_min finite and >= 0.
  CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min = 0.0, int64_t warmup_steps = 0);
  double lr_at(int64_t step, double base_lr) const override;

 protected:
  std::map<std::string, double> config() const override;

 private:
  int64_t t_max_;
  double eta_min_;
  int64_t warmup_steps_;
};

}  // namespace ff::optim
