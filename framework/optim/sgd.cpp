#include "framework/optim/sgd.h"

#include <cmath>

#include "ops/optim/sgd_update.h"

namespace ff::optim {

std::map<std::string, double> SGDOptions::to_map() const {
  return {{"lr", lr()},
          {"momentum", momentum()},
          {"dampening", dampening()},
          {"weight_decay", weight_decay()},
          {"nesterov", nesterov() ? 1.0 : 0.0},
          {"maximize", maximize() ? 1.0 : 0.0}};
}

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : SGD(std::vector<ParamGroup>{ParamGroup(std::move(params))}, options) {}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults) : Optimizer("SGD", defaults.to_map()) {
  for (auto& g : groups) add_param_group(std::move(g));
}

void SGD::check_options(const std::map<std::string, double>& o, size_t group) const {
  for (const char* name : {"lr", "momentum", "weight_decay"}) require_non_negative(o, name, group);
  const double dampening = o.at("dampening");
  FF_CHECK(std::isfinite(dampening), "SGD: dampening of parameter group {} must be finite, got {}", group, dampening);
  require_flag(o, "nesterov", group);
  require_flag(o, "maximize", group);
  FF_CHECK(!flag(o, "nesterov") || (o.at("momentum") > 0.0 && dampening == 0.0),
           "SGD: Nesterov momentum requires momentum > 0 and dampening == 0 (parameter group {} has momentum {}, "
           "dampening {})",
           group, o.at("momentum"), dampening);
}

std::vector<std::string> SGD::state_names(const std::map<std::string, double>& o) const {
  if (o.at("momentum") != 0.0) return {"momentum_buffer"};
  return {};
}

void SGD::update() {
  for (size_t g = 0; g < num_groups(); ++g) {
    const auto& o = param_group(g).options;
    SgdUpdateHyper hyper;
    hyper.lr = o.at("lr");
    hyper.momentum = o.at("momentum");
    hyper.dampening = o.at("dampening");
    hyper.weight_decay = o.at("weight_decay");
    hyper.nesterov = flag(o, "nesterov");
    hyper.maximize = flag(o, "maximize");
    for (Bucket& bucket : grad_buckets(g)) {
      SgdUpdateLists lists;
      lists.params = std::move(bucket.params);
      lists.grads = std::move(bucket.grads);
      // New buffers are stored only after the update succeeded: a buffer in the state always
      // holds history.
      std::vector<std::pair<size_t, Tensor>> created;
      if (hyper.momentum != 0.0) {
        for (size_t k = 0; k < bucket.indices.size(); ++k) {
          Tensor buffer = state_tensor(g, bucket.indices[k], "momentum_buffer");
          const bool fresh = !buffer.defined();
          if (fresh) {  // fully written by the kernel (buf = d on the first step)
            const Tensor& p = lists.params[k];
            buffer = Tensor::empty(p.sizes(), optimizer_state_dtype(p.dtype()), p.device());
            created.emplace_back(bucket.indices[k], buffer);
          }
          lists.momentum_buffers.push_back(buffer);
          lists.buffer_is_fresh.push_back(fresh ? 1 : 0);
        }
      }
      sgd_update_(lists, hyper);
      for (auto& [index, buffer] : created) param_state(g, index).tensors["momentum_buffer"] = std::move(buffer);
    }
  }
}

}  // namespace ff::optim
