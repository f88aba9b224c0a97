// Optimizer: parameter groups, per-parameter state, and the state_dict used to resume.
//
// Usage (arcface_torch style: one group for the backbone, one for the Partial FC weights):
//
//   using namespace ff::optim;
//   SGD opt({ParamGroup(backbone_params), ParamGroup(pfc_params, {{"lr", 0.1 / 3}})},
//           SGDOptions(0.1).momentum(0.9).weight_decay(5e-4));
//   ...
//   loss.backward();
//   clip_grad_norm_(backbone_params, 5.0);
//   opt.step();        // runs under autograd::NoGradGuard; parameters without a grad are skipped
//   opt.zero_grad();   // drops the gradients (undefined), like PyTorch's set_to_none=True
//   scheduler.step();  // sets each group's "lr"
//
// Hyper-parameters live per group as named doubles (flags are 0 or 1), exactly like the
// dicts in PyTorch's param_groups: each group starts from the optimizer's defaults and may
// override any of them; unknown names are rejected.
//
// state_dict() layout; every value is a tensor, so the dict can be saved as safetensors:
//   "step_count"                     int64 []    number of step() calls
//   "param_groups.<g>.<option>"      float64 []  one per hyper-parameter (lr, momentum, ...)
//   "param_groups.<g>.param_numel"   int64 [n]   numel of each of the group's n parameters
//   "state.<g>.<i>.<name>"           per-parameter state tensors (momentum_buffer, exp_avg, ...),
//                                    shaped like parameter i of group g
//   "state.<g>.<i>.step"             int64 []    per-parameter step count (AdamW)
// The state tensors alias the live state (no copy); clone them to keep a snapshot in memory.
// load_state_dict() validates group and parameter counts, numels and shapes, option names and
// values, and rejects unknown keys, all before changing anything.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/io/state_dict.h"

// Declares a chainable option of an options struct (like PyTorch C++'s TORCH_ARG):
// `Self& name(T value)` sets it and returns the struct, `T name() const` reads it.
#define FF_OPTIM_OPTION(Self, T, name, default_value) \
 public:                                               \
  Self& name(T value) {                                \
    name##_ = value;                                   \
    return *this;                                      \
  }                                                    \
  T name() const { return name##_; }                   \
                                                       \
 private:                                              \
  T name##_ = default_value

namespace ff::optim {

struct ParamGroup {
  ParamGroup() = default;
  ParamGroup(std::vector<Tensor> params, std::map<std::string, double> options = {})  // NOLINT: implicit
      : params(std::move(params)), options(std::move(options)) {}

  std::vector<Tensor> params;
  std::map<std::string, double> options;  // hyper-parameters by name (after construction: all of them)
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const std::string& name() const { return name_; }  // "SGD", "AdamW": used in error messages

  // One update of every parameter that has a gradient, under autograd::NoGradGuard.
  void step();
  // Drops every parameter's gradient (undefined).
  void zero_grad();

  // Adds a group; its options override the defaults. A parameter may belong to one group only.
  void add_param_group(ParamGroup group);

  size_t num_groups() const { return groups_.size(); }
  const ParamGroup& param_group(size_t group) const;
  const std::map<std::string, double>& defaults() const { return defaults_; }

  double lr(size_t group = 0) const { return option(group, "lr"); }
  void set_lr(size_t group, double lr) { set_option(group, "lr", lr); }
  double option(size_t group, const std::string& name) const;
  void set_option(size_t group, const std::string& name, double value);  // validated

  int64_t step_count() const { return step_count_; }
  // Per-parameter state, for inspection: undefined / 0 when the parameter has none yet.
  Tensor state_tensor(size_t group, size_t index, const std::string& name) const;
  int64_t param_step(size_t group, size_t index) const;

  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 protected:
  Optimizer(std::string name, std::map<std::string, double> defaults);

  // Throws naming the group when an option value is invalid (the map holds every option).
  virtual void check_options(const std::map<std::string, double>& options, size_t group) const = 0;
  // The state tensors a parameter of a group with these options carries.
  virtual std::vector<std::string> state_names(const std::map<std::string, double>& options) const = 0;
  // Whether parameters carry a step count ("state.<g>.<i>.step").
  virtual bool counts_steps() const { return false; }
  // The update itself; step() has already entered NoGradGuard.
  virtual void update() = 0;

  struct ParamState {
    std::map<std::string, Tensor> tensors;  // created lazily by the optimizer
    int64_t step = 0;
  };
  ParamState& param_state(size_t group, size_t index);
  std::vector<ParamGroup>& groups() { return groups_; }

  // The parameters of one group that have a gradient, bucketed by (device, dtype) so each
  // bucket is one fused-kernel call. Grads are checked against their parameter's shape and
  // device and cast to the parameter's dtype when they differ.
  struct Bucket {
    std::vector<size_t> indices;  // positions in the group
    std::vector<Tensor> params;
    std::vector<Tensor> grads;
  };
  std::vector<Bucket> grad_buckets(size_t group) const;

  // A flag option (stored as 0 or 1) as a bool.
  static bool flag(const std::map<std::string, double>& options, const char* name) { return options.at(name) != 0.0; }
  // Helpers for check_options: throw naming the optimizer, group and option.
  void require_flag(const std::map<std::string, double>& options, const char* name, size_t group) const;
  void require_non_negative(const std::map<std::string, double>& options, const char* name, size_t group) const;

 private:
  std::map<std::string, double> merged_options(const std::map<std::string, double>& overrides, size_t group) const;

  std::string name_;
  std::map<std::string, double> defaults_;
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<ParamState>> state_;  // [group][index]
  int64_t step_count_ = 0;
};

}  // namespace ff::optim
