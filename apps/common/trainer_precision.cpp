#include "apps/common/trainer_precision.h"

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "ops/elementwise/binary.h"
#include "ops/shape/shape.h"
#include "ops/tensor_ops/fill.h"

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

void MasterWeights::accumulate_grads() {
  autograd::NoGradGuard no_grad;
  for (size_t i = 0; i < model_.size(); ++i) {
    if (master_[i].is_same(model_[i])) continue;
    const Tensor g = model_[i].grad();
    if (!g.defined()) continue;
    const Tensor g32 = g.to(DType::Float32);
    const Tensor sum = master_[i].grad();
    master_[i].set_grad(sum.defined() ? add(sum, g32) : g32);
    model_[i].zero_grad();
  }
}

void MasterWeights::average_grads(distributed::Communicator& comm) {
  if (comm.world_size() == 1) return;
  autograd::NoGradGuard no_grad;
  std::vector<Tensor> flat;
  for (const Tensor& m : master_) {
    const Tensor g = m.grad().defined() ? m.grad() : zeros_like(m);
    flat.push_back(g.contiguous().view({-1}));
  }
  Tensor all = concat(flat, 0);
  comm.all_reduce(all, distributed::ReduceOp::Avg);
  int64_t offset = 0;
  for (Tensor& m : master_) {
    m.set_grad(all.narrow(0, offset, m.numel()).view(m.sizes()));
    offset += m.numel();
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
