#include "framework/optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "framework/autograd/autograd.h"
#include "ops/optim/optim_common.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/fill.h"

namespace ff::optim {

Optimizer::Optimizer(std::string name, std::map<std::string, double> defaults)
    : name_(std::move(name)), defaults_(std::move(defaults)) {
  FF_ASSERT(defaults_.count("lr"), "{}: every optimizer has an 'lr' option", name_);
}

std::map<std::string, double> Optimizer::merged_options(const std::map<std::string, double>& overrides,
                                                        size_t group) const {
  std::map<std::string, double> options = defaults_;
  for (const auto& [key, value] : overrides) {
    if (!defaults_.count(key)) {
      std::vector<std::string> known;
      for (const auto& kv : defaults_) known.push_back(kv.first);
      FF_THROW("{}: unknown option '{}' in parameter group {}; known options: {}", name_, key, group,
               fmt::join(known, ", "));
    }
    options[key] = value;
  }
  check_options(options, group);
  return options;
}

void Optimizer::require_flag(const std::map<std::string, double>& options, const char* name, size_t group) const {
  const double v = options.at(name);
  FF_CHECK(v == 0.0 || v == 1.0, "{}: option '{}' of parameter group {} is a flag and must be 0 or 1, got {}", name_,
           name, group, v);
}

void Optimizer::require_non_negative(const std::map<std::string, double>& options, const char* name,
                                     size_t group) const {
  const double v = options.at(name);
  FF_CHECK(std::isfinite(v) && v >= 0.0, "{}: option '{}' of parameter group {} must be finite and >= 0, got {}",
           name_, name, group, v);
}

void Optimizer::add_param_group(ParamGroup group) {
  const size_t g = groups_.size();
  std::set<const TensorImpl*> seen;
  for (const auto& existing : groups_) {
    for (const Tensor& p : existing.params) seen.insert(p.impl());
  }
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    FF_CHECK(p.defined(), "{}: parameter {} of group {} is an undefined tensor", name_, i, g);
    FF_CHECK(is_floating(p.dtype()), "{}: parameter {} of group {} is {}; only floating-point tensors can be optimized",
             name_, i, g, p.describe());
    FF_CHECK(seen.insert(p.impl()).second,
             "{}: parameter {} of group {} ({}) appears more than once across the parameter groups", name_, i, g,
             p.describe());
  }
  group.options = merged_options(group.options, g);
  state_.emplace_back(group.params.size());
  groups_.push_back(std::move(group));
}

const ParamGroup& Optimizer::param_group(size_t group) const {
  FF_CHECK(group < groups_.size(), "{}: parameter group {} does not exist ({} groups)", name_, group, groups_.size());
  return groups_[group];
}

double Optimizer::option(size_t group, const std::string& name) const {
  const auto& options = param_group(group).options;
  const auto it = options.find(name);
  FF_CHECK(it != options.end(), "{}: unknown option '{}'", name_, name);
  return it->second;
}

void Optimizer::set_option(size_t group, const std::string& name, double value) {
  param_group(group);  // range check
  std::map<std::string, double> overrides = groups_[group].options;
  overrides[name] = value;
  groups_[group].options = merged_options(overrides, group);
}

Tensor Optimizer::state_tensor(size_t group, size_t index, const std::string& name) const {
  FF_CHECK(group < state_.size() && index < state_[group].size(), "{}: no parameter {} in group {}", name_, index,
           group);
  const auto& tensors = state_[group][index].tensors;
  const auto it = tensors.find(name);
  return it == tensors.end() ? Tensor() : it->second;
}

int64_t Optimizer::param_step(size_t group, size_t index) const {
  FF_CHECK(group < state_.size() && index < state_[group].size(), "{}: no parameter {} in group {}", name_, index,
           group);
  return state_[group][index].step;
}

Optimizer::ParamState& Optimizer::param_state(size_t group, size_t index) {
  FF_ASSERT(group < state_.size() && index < state_[group].size(), "no state slot for parameter {} of group {}", index,
            group);
  return state_[group][index];
}

void Optimizer::step() {
  autograd::NoGradGuard no_grad;
  update();
  ++step_count_;
}

void Optimizer::zero_grad() {
  for (auto& group : groups_) {
    for (Tensor& p : group.params) p.zero_grad();
  }
}

std::vector<Optimizer::Bucket> Optimizer::grad_buckets(size_t group) const {
  const auto& params = groups_[group].params;
  std::map<std::tuple<int, int, int>, Bucket> buckets;  // (device type, device index, dtype)
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    FF_CHECK(g.sizes() == p.sizes() && g.device() == p.device(),
             "{}: the gradient of parameter {} in group {} is {}, but the parameter is {}", name_, i, group,
             g.describe(), p.describe());
    if (g.dtype() != p.dtype()) g = g.detach().to(p.dtype());
    const Device d = p.device();
    Bucket& b = buckets[{static_cast<int>(d.type), d.index, static_cast<int>(p.dtype())}];
    b.indices.push_back(i);
    b.params.push_back(p);
    b.grads.push_back(g);
  }
  std::vector<Bucket> out;
  for (auto& kv : buckets) out.push_back(std::move(kv.second));
  return out;
}

// ---- state_dict ----------------------------------------------------------------------------------------
StateDict Optimizer::state_dict() const {
  StateDict out;
  out["step_count"] = full({}, static_cast<double>(step_count_), DType::Int64);
  for (size_t g = 0; g < groups_.size(); ++g) {
    const std::string gp = fmt::format("param_groups.{}.", g);
    for (const auto& [key, value] : groups_[g].options) out[gp + key] = full({}, value, DType::Float64);
    std::vector<int64_t> numels;
    for (const Tensor& p : groups_[g].params) numels.push_back(p.numel());
    out[gp + "param_numel"] = tensor_from(numels, {static_cast<int64_t>(numels.size())});
    // Only the state the current options use (a buffer left over from before an option change,
    // e.g. momentum set to 0, would not load back).
    const auto names = state_names(groups_[g].options);
    for (size_t i = 0; i < state_[g].size(); ++i) {
      const std::string sp = fmt::format("state.{}.{}.", g, i);
      for (const auto& [name, t] : state_[g][i].tensors) {
        if (std::find(names.begin(), names.end(), name) != names.end()) out[sp + name] = t;
      }
      if (counts_steps() && state_[g][i].step > 0) {
        out[sp + "step"] = full({}, static_cast<double>(state_[g][i].step), DType::Int64);
      }
    }
  }
  return out;
}

namespace {

// "12" -> 12; anything but plain decimal digits (or an absurd value) -> -1.
int64_t parse_index(const std::string& s) {
  if (s.empty() || s.size() > 9) return -1;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return (s.size() > 1 && s[0] == '0') ? -1 : v;
}

std::vector<std::string> split_dots(const std::string& key, size_t max_parts) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (parts.size() + 1 < max_parts) {
    const size_t dot = key.find('.', start);
    if (dot == std::string::npos) break;
    parts.push_back(key.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(key.substr(start));
  return parts;
}

int64_t scalar_int(const std::string& opt, const std::string& key, const Tensor& t) {
  FF_CHECK(t.defined() && t.numel() == 1 && is_integral(t.dtype()) && t.dtype() != DType::Bool,
           "{}: optimizer state '{}' must be a one-element integer tensor, got {}", opt, key, t.describe());
  return t.item<int64_t>();
}

double scalar_float(const std::string& opt, const std::string& key, const Tensor& t) {
  FF_CHECK(t.defined() && t.numel() == 1 && t.dtype() != DType::Bool,
           "{}: optimizer state '{}' must be a one-element numeric tensor, got {}", opt, key, t.describe());
  return t.item<double>();
}

}  // namespace

void Optimizer::load_state_dict(const StateDict& sd) {
  const size_t num_groups = groups_.size();
  // Everything is parsed into these first and committed only when all of it is valid.
  std::vector<std::map<std::string, double>> options(num_groups);
  std::vector<bool> have_numel(num_groups, false);
  std::vector<std::vector<ParamState>> new_state(num_groups);
  for (size_t g = 0; g < num_groups; ++g) new_state[g].resize(groups_[g].params.size());
  bool have_step_count = false;
  int64_t new_step_count = 0;
  std::vector<std::pair<std::string, const Tensor*>> state_entries;

  auto group_index = [&](const std::string& s, const std::string& key) {
    const int64_t g = parse_index(s);
    FF_CHECK(g >= 0, "{}: malformed optimizer state key '{}'", name_, key);
    FF_CHECK(static_cast<size_t>(g) < num_groups,
             "{}: optimizer state key '{}' refers to parameter group {}, but this optimizer has {} group(s)", name_,
             key, g, num_groups);
    return static_cast<size_t>(g);
  };

  for (const auto& [key, t] : sd) {
    FF_CHECK(t.defined(), "{}: optimizer state '{}' is an undefined tensor", name_, key);
    if (key == "step_count") {
      new_step_count = scalar_int(name_, key, t);
      FF_CHECK(new_step_count >= 0, "{}: negative step_count {}", name_, new_step_count);
      have_step_count = true;
      continue;
    }
    const auto parts = split_dots(key, 3);
    if (parts.size() == 3 && parts[0] == "param_groups") {
      const size_t g = group_index(parts[1], key);
      const std::string& opt = parts[2];
      if (opt == "param_numel") {
        const auto numels = to_vector<int64_t>(t);
        const auto& params = groups_[g].params;
        FF_CHECK(t.dim() == 1 && numels.size() == params.size(),
                 "{}: the saved state of parameter group {} is for {} parameter(s), but this group has {}", name_, g,
                 t.dim() == 1 ? numels.size() : 0, params.size());
        for (size_t i = 0; i < params.size(); ++i) {
          FF_CHECK(numels[i] == params[i].numel(),
                   "{}: parameter {} of group {}: the saved state is for a tensor of {} elements, but the parameter "
                   "is {} ({} elements)",
                   name_, i, g, numels[i], params[i].describe(), params[i].numel());
        }
        have_numel[g] = true;
      } else {
        FF_CHECK(defaults_.count(opt), "{}: optimizer state key '{}' names unknown option '{}'", name_, key, opt);
        options[g][opt] = scalar_float(name_, key, t);
      }
      continue;
    }
    if (parts.size() == 3 && parts[0] == "state") {
      state_entries.emplace_back(key, &t);
      continue;
    }
    FF_THROW("{}: unexpected key '{}' in optimizer state", name_, key);
  }
  FF_CHECK(have_step_count, "{}: optimizer state has no 'step_count' entry", name_);
  for (size_t g = 0; g < num_groups; ++g) {
    FF_CHECK(have_numel[g], "{}: optimizer state has no 'param_groups.{}.param_numel' entry", name_, g);
    for (const auto& kv : defaults_) {
      FF_CHECK(options[g].count(kv.first), "{}: optimizer state has no 'param_groups.{}.{}' entry", name_, g, kv.first);
    }
    options[g] = merged_options(options[g], g);  // validates the values
  }

  for (const auto& [key, tp] : state_entries) {
    const Tensor& t = *tp;
    const auto parts = split_dots(key, 4);
    FF_CHECK(parts.size() == 4, "{}: malformed optimizer state key '{}' (expected state.<group>.<index>.<name>)", name_,
             key);
    const size_t g = group_index(parts[1], key);
    const int64_t i = parse_index(parts[2]);
    FF_CHECK(i >= 0 && static_cast<size_t>(i) < groups_[g].params.size(),
             "{}: optimizer state key '{}' refers to parameter {} of group {}, which has {} parameter(s)", name_, key,
             parts[2], g, groups_[g].params.size());
    const std::string& state_name = parts[3];
    ParamState& ps = new_state[g][static_cast<size_t>(i)];
    if (state_name == "step" && counts_steps()) {
      ps.step = scalar_int(name_, key, t);
      FF_CHECK(ps.step >= 0, "{}: negative step count in '{}'", name_, key);
      continue;
    }
    const auto allowed = state_names(options[g]);
    FF_CHECK(std::find(allowed.begin(), allowed.end(), state_name) != allowed.end(),
             "{}: unexpected optimizer state '{}' ({} with these options keeps: {})", name_, key, name_,
             allowed.empty() ? std::string("nothing") : fmt::format("{}", fmt::join(allowed, ", ")));
    const Tensor& p = groups_[g].params[static_cast<size_t>(i)];
    FF_CHECK(t.sizes() == p.sizes(), "{}: optimizer state '{}' has shape {}, but parameter {} of group {} is {}", name_,
             key, shape_str(t.sizes()), i, g, p.describe());
    FF_CHECK(is_floating(t.dtype()), "{}: optimizer state '{}' is {}, expected a floating-point tensor", name_, key,
             t.describe());
    Tensor copy = Tensor::empty(p.sizes(), optimizer_state_dtype(p.dtype()), p.device());
    copy_into(copy, t);
    ps.tensors[state_name] = copy;
  }

  if (counts_steps()) {  // a counted parameter has its whole state, an uncounted one none
    for (size_t g = 0; g < num_groups; ++g) {
      const auto names = state_names(options[g]);
      for (size_t i = 0; i < new_state[g].size(); ++i) {
        const ParamState& ps = new_state[g][i];
        for (const auto& n : names) {
          FF_CHECK(ps.step == 0 || ps.tensors.count(n),
                   "{}: parameter {} of group {} has step count {} but no 'state.{}.{}.{}' entry", name_, i, g, ps.step,
                   g, i, n);
        }
        FF_CHECK(ps.step > 0 || ps.tensors.empty(),
                 "{}: parameter {} of group {} has state tensors but no (or a zero) 'state.{}.{}.step' entry", name_, i,
                 g, g, i);
      }
    }
  }

  // Commit.
  for (size_t g = 0; g < num_groups; ++g) groups_[g].options = std::move(options[g]);
  state_ = std::move(new_state);
  step_count_ = new_step_count;
}

}  // namespace ff::optim
