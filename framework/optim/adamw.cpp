#include "framework/optim/adamw.h"

#include "ops/optim/adamw_update.h"
#include "ops/tensor_ops/fill.h"

namespace ff::optim {

std::map<std::string, double> AdamWOptions::to_map() const {
  return {{"lr", lr()},
          {"beta1", beta1()},
          {"beta2", beta2()},
          {"eps", eps()},
          {"weight_decay", weight_decay()},
          {"amsgrad", amsgrad() ? 1.0 : 0.0},
          {"maximize", maximize() ? 1.0 : 0.0}};
}

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& options)
    : AdamW(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults) : Optimizer("AdamW", defaults.to_map()) {
  for (auto& g : groups) add_param_group(std::move(g));
}

void AdamW::check_options(const std::map<std::string, double>& o, size_t group) const {
  for (const char* name : {"lr", "eps", "weight_decay"}) require_non_negative(o, name, group);
  for (const char* name : {"beta1", "beta2"}) {
    const double b = o.at(name);
    FF_CHECK(b >= 0.0 && b < 1.0, "AdamW: option '{}' of parameter group {} must lie in [0, 1), got {}", name, group,
             b);
  }
  require_flag(o, "amsgrad", group);
  require_flag(o, "maximize", group);
}

std::vector<std::string> AdamW::state_names(const std::map<std::string, double>& o) const {
  if (flag(o, "amsgrad")) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}

void AdamW::update() {
  for (size_t g = 0; g < num_groups(); ++g) {
    const auto& o = param_group(g).options;
    AdamWUpdateHyper hyper;
    hyper.lr = o.at("lr");
    hyper.beta1 = o.at("beta1");
    hyper.beta2 = o.at("beta2");
    hyper.eps = o.at("eps");
    hyper.weight_decay = o.at("weight_decay");
    hyper.amsgrad = flag(o, "amsgrad");
    hyper.maximize = flag(o, "maximize");
    const auto names = state_names(o);
    for (Bucket& bucket : grad_buckets(g)) {
      AdamWUpdateLists lists;
      lists.params = std::move(bucket.params);
      lists.grads = std::move(bucket.grads);
      // The moments start at zero. Created state and step counts are committed only after the
      // update succeeded.
      std::vector<std::map<std::string, Tensor>> state(bucket.indices.size());
      for (size_t k = 0; k < bucket.indices.size(); ++k) {
        const size_t index = bucket.indices[k];
        for (const auto& name : names) {
          Tensor t = state_tensor(g, index, name);
          if (!t.defined()) {
            const Tensor& p = lists.params[k];
            t = zeros(p.sizes(), optimizer_state_dtype(p.dtype()), p.device());
          }
          state[k][name] = t;
        }
        lists.exp_avgs.push_back(state[k]["exp_avg"]);
        lists.exp_avg_sqs.push_back(state[k]["exp_avg_sq"]);
        if (hyper.amsgrad) lists.max_exp_avg_sqs.push_back(state[k]["max_exp_avg_sq"]);
        lists.steps.push_back(param_step(g, index) + 1);
      }
      adamw_update_(lists, hyper);
      for (size_t k = 0; k < bucket.indices.size(); ++k) {
        ParamState& ps = param_state(g, bucket.indices[k]);
        for (auto& [name, t] : state[k]) ps.tensors[name] = t;
        ps.step = lists.steps[k];
      }
    }
  }
}

}  // namespace ff::optim
