#include "framework/distributed/data_parallel.h"

#include <algorithm>
#include <cstdint>

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
  // [#params, #param elements, #buffers, #buffer elements, sum of ranks of all tensors, layout
  // hash]. The hash (FNV-1a over every tensor's dtype and shape, in order) catches what the
  // totals cannot: the same tensors in another order would pair different gradients in a bucket.
  constexpr int kFields = 6;
  int64_t sig[kFields] = {0, 0, 0, 0, 0, 0};
  uint64_t hash = 14695981039346656037ull;
  const auto mix = [&](int64_t v) {
    for (int byte = 0; byte < 8; ++byte) {
      hash = (hash ^ ((static_cast<uint64_t>(v) >> (8 * byte)) & 0xFF)) * 1099511628211ull;
    }
  };
  const auto add = [&](const Tensor& t, int64_t* count, int64_t* elements) {
    *count += 1;
    *elements += t.numel();
    sig[4] += t.dim();
    mix(static_cast<int64_t>(t.dtype()));
    mix(t.dim());
    for (int64_t d : t.sizes()) mix(d);
  };
  for (const auto& [name, p] : module_->named_parameters()) add(p, &sig[0], &sig[1]);
  for (const auto& [name, b] : module_->named_buffers()) add(b, &sig[2], &sig[3]);
  sig[5] = static_cast<int64_t>(hash);
  // On the module's device: an NCCL communicator only takes CUDA tensors.
  const auto params = module_->parameters();
  const Device device = params.empty() ? Device() : params.front().device();
  Tensor mine = tensor_from(std::vector<int64_t>(sig, sig + kFields), {1, kFields}, device);
  const std::vector<int64_t> all = to_vector<int64_t>(comm_.all_gather(mine));
  for (int r = 1; r < comm_.world_size(); ++r) {
    const auto rank0 = all.begin(), other = all.begin() + kFields * r;
    FF_CHECK(std::equal(rank0, rank0 + kFields, other),
             "DataParallel: the module differs between ranks 0 and {} (params, param elements, buffers, buffer "
             "elements, dims, layout hash of the dtypes and shapes in order: {} vs {})",
             r, std::vector<int64_t>(rank0, rank0 + kFields), std::vector<int64_t>(other, other + kFields));
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
