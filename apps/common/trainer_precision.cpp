#include "apps/common/trainer_precision.h"

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"

namespace ff::apps {

MasterWeights::MasterWeights(const std::vector<std::pair<std::string, Tensor>>& model_params) {
  for (const auto& [name, p] : model_params) {
    names_.push_back(name);
    model_.push_back(p);
    if (p.dtype() == DType::Float32) {
      master_.push_back(p);
    } else {
      master_.push_back(p.detach().to(DType::Float32).set_requires_grad(true));
      ++low_precision_;
    }
  }
}

StateDict MasterWeights::named_params() const {
  StateDict out;
  for (size_t i = 0; i < names_.size(); ++i) out[names_[i]] = master_[i].detach();
  return out;
}

void MasterWeights::grads_to_master() {
  for (size_t i = 0; i < model_.size(); ++i) {
    if (master_[i].is_same(model_[i])) continue;
    const Tensor g = model_[i].grad();
    if (g.defined()) master_[i].set_grad(g.to(DType::Float32));
    else master_[i].zero_grad();
  }
}

void MasterWeights::master_to_model() {
  autograd::NoGradGuard no_grad;
  for (size_t i = 0; i < model_.size(); ++i) {
    if (!master_[i].is_same(model_[i])) model_[i].detach().copy_(master_[i].detach());
  }
}

void MasterWeights::zero_grad() {
  for (size_t i = 0; i < model_.size(); ++i) {
    model_[i].zero_grad();
    master_[i].zero_grad();
  }
}

void MasterWeights::load(const StateDict& values, const std::string& source) {
  autograd::NoGradGuard no_grad;
  for (size_t i = 0; i < names_.size(); ++i) {
    auto it = values.find(names_[i]);
    FF_CHECK(it != values.end(), "{}: backbone parameter '{}' is missing", source, names_[i]);
    FF_CHECK(it->second.sizes() == master_[i].sizes(), "{}: backbone parameter '{}' is {}, the model's is {}", source,
             names_[i], it->second.describe(), master_[i].describe());
    master_[i].detach().copy_(it->second);
  }
  master_to_model();
}

void MasterWeights::broadcast(distributed::Communicator& comm, int root) {
  if (comm.world_size() == 1) return;
  autograd::NoGradGuard no_grad;
  for (const Tensor& m : master_) comm.broadcast(m.detach(), root);
  master_to_model();
}

}  // namespace ff::apps
