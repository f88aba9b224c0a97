#include "framework/distributed/data_parallel.h"

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "ops/tensor_ops/fill.h"

namespace ff::distributed {

DataParallel::DataParallel(std::shared_ptr<nn::Module> module, Communicator& comm, DataParallelOptions options)
    : module_(std::move(module)), comm_(comm) {
  FF_CHECK(module_ != nullptr, "DataParallel: module is null");
  FF_CHECK(options.bucket_cap_mb > 0, "DataParallel: bucket_cap_mb must be > 0, got {}", options.bucket_cap_mb);
  check_same_structure_on_all_ranks();
  if (options.broadcast_at_start) broadcast_parameters_and_buffers(0);

  std::vector<std::pair<std::string, Tensor>> trainable;
  for (auto& [name, p] : module_->named_parameters()) {
    if (p.requires_grad()) trainable.emplace_back(name, p);
  }
  reducer_ = std::make_shared<GradientReducer>(trainable, comm_,
                                               static_cast<size_t>(options.bucket_cap_mb * 1024.0 * 1024.0));
  std::weak_ptr<GradientReducer> weak = reducer_;
  for (size_t i = 0; i < trainable.size(); ++i) {
    trainable[i].second.register_grad_ready_hook([weak, i](const Tensor&) {
      if (auto reducer = weak.lock()) reducer->on_grad_ready(i);
    });
  }
}

DataParallel::~DataParallel() = default;

void DataParallel::check_same_structure_on_all_ranks() {
  // [#params, #param elements, #buffers, #buffer elements, sum of ranks of all tensors]
  int64_t sig[5] = {0, 0, 0, 0, 0};
  for (const auto& [name, p] : module_->named_parameters()) sig[0] += 1, sig[1] += p.numel(), sig[4] += p.dim();
  for (const auto& [name, b] : module_->named_buffers()) sig[2] += 1, sig[3] += b.numel(), sig[4] += b.dim();
  // On the module's device: an NCCL communicator only takes CUDA tensors.
  const auto params = module_->parameters();
  const Device device = params.empty() ? Device() : params.front().device();
  Tensor mine = tensor_from(std::vector<int64_t>(sig, sig + 5), {1, 5}, device);
  const std::vector<int64_t> all = to_vector<int64_t>(comm_.all_gather(mine));
  for (int r = 1; r < comm_.world_size(); ++r) {
    for (int k = 0; k < 5; ++k) {
      FF_CHECK(all[static_cast<size_t>(5 * r + k)] == all[static_cast<size_t>(k)],
               "DataParallel: the module differs between ranks 0 and {} (params, param elements, buffers, "
               "buffer elements, dims: {} vs {})",
               r, std::vector<int64_t>(all.begin(), all.begin() + 5),
               std::vector<int64_t>(all.begin() + 5 * r, all.begin() + 5 * r + 5));
    }
  }
}

void DataParallel::broadcast_parameters_and_buffers(int root) {
  autograd::NoGradGuard no_grad;
  auto send = [&](const Tensor& t) {
    if (t.is_contiguous()) {
      comm_.broadcast(t, root);
    } else {
      Tensor tmp = t.contiguous();
      comm_.broadcast(tmp, root);
      t.detach().copy_(tmp);
    }
  };
  for (const auto& [name, p] : module_->named_parameters()) send(p);
  for (const auto& [name, b] : module_->named_buffers()) send(b);
}

void DataParallel::finish_gradient_sync() { reducer_->finish(); }

DataParallel::NoSyncGuard::NoSyncGuard(GradientReducer* reducer) : reducer_(reducer), previous_(reducer->enabled()) {
  reducer_->set_enabled(false);
}

DataParallel::NoSyncGuard::NoSyncGuard(NoSyncGuard&& other) noexcept
    : reducer_(other.reducer_), previous_(other.previous_) {
  other.reducer_ = nullptr;
}

DataParallel::NoSyncGuard::~NoSyncGuard() {
  if (reducer_ != nullptr) reducer_->set_enabled(previous_);
}

DataParallel::NoSyncGuard DataParallel::no_sync() { return NoSyncGuard(reducer_.get()); }

}  // namespace ff::distributed
