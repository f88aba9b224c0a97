#include "framework/distributed/gradient_reducer.h"

#include <map>
#include <tuple>

#include "framework/autograd/autograd.h"
#include "framework/common/check.h"

namespace ff::distributed {

GradientReducer::GradientReducer(std::vector<std::pair<std::string, Tensor>> params, Communicator& comm,
                                 size_t bucket_cap_bytes)
    : params_(std::move(params)), comm_(comm) {
  for (const auto& [name, p] : params_) {
    FF_CHECK(p.is_leaf() && p.requires_grad(), "GradientReducer: parameter {} ({}) is not a leaf that requires grad",
             name, p.describe());
  }
  build_buckets(bucket_cap_bytes);
  reset();
}

void GradientReducer::build_buckets(size_t cap_bytes) {
  bucket_of_.assign(params_.size(), 0);
  slot_of_.assign(params_.size(), 0);
  // One open bucket per (dtype, device); a bucket closes when the next gradient would overflow it,
  // and then the open buckets of the other dtypes close with it. That keeps every bucket a run of
  // neighbouring layers in backward order, so it completes soon after its last gradient: with a
  // 16-bit body, a float32 bucket left open would collect the BatchNorm parameters of every layer,
  // complete only at the end of backward, and (buckets launch in order) hold back the 16-bit
  // buckets created after it.
  std::map<std::tuple<int, int, int>, size_t> open;
  std::vector<size_t> bytes;
  for (size_t k = params_.size(); k-- > 0;) {
    const Tensor& p = params_[k].second;
    const auto key = std::make_tuple(static_cast<int>(p.dtype()), static_cast<int>(p.device().type), p.device().index);
    const size_t size = static_cast<size_t>(p.numel()) * p.element_size();
    auto it = open.find(key);
    if (it == open.end() || (bytes[it->second] > 0 && bytes[it->second] + size > cap_bytes)) {
      if (it != open.end()) open.clear();
      buckets_.emplace_back();
      bytes.push_back(0);
      it = open.insert_or_assign(key, buckets_.size() - 1).first;
    }
    Bucket& b = buckets_[it->second];
    bucket_of_[k] = it->second;
    slot_of_[k] = b.params.size();
    b.offsets.push_back(b.params.empty() ? 0 : b.offsets.back() + params_[b.params.back()].second.numel());
    b.params.push_back(k);
    bytes[it->second] += size;
  }
  for (Bucket& b : buckets_) {
    const Tensor& first = params_[b.params.front()].second;
    const int64_t numel = b.offsets.back() + params_[b.params.back()].second.numel();
    b.flat = Tensor::empty({numel}, first.dtype(), first.device());
  }
}

void GradientReducer::reset() {
  arrived_.assign(params_.size(), false);
  for (Bucket& b : buckets_) {
    b.pending = b.params.size();
    b.work.reset();
  }
  next_launch_ = 0;
}

void GradientReducer::fill_slot(size_t i) {
  const Tensor& p = params_[i].second;
  Bucket& b = buckets_[bucket_of_[i]];
  Tensor slot = b.flat.narrow(0, b.offsets[slot_of_[i]], p.numel()).view(p.sizes());
  autograd::NoGradGuard no_grad;
  const Tensor g = p.grad();
  if (g.defined()) {
    slot.copy_(g);
  } else {
    slot.zero_();
  }
}

void GradientReducer::on_grad_ready(size_t i) {
  if (!enabled_) return;
  FF_CHECK(!arrived_[i],
           "DataParallel: the gradient of {} arrived twice without finish() in between; call "
           "finish_gradient_sync() after every backward (or run the extra backward inside no_sync())",
           params_[i].first);
  arrived_[i] = true;
  fill_slot(i);
  --buckets_[bucket_of_[i]].pending;
  launch_ready();
}

size_t GradientReducer::num_launched() const { return next_launch_; }

void GradientReducer::launch_ready() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    Bucket& b = buckets_[next_launch_++];
    b.work = comm_.all_reduce(b.flat, ReduceOp::Avg, /*async=*/true);
  }
  // Polling the buckets in flight lets a CPU MPI make progress on them during backward.
  for (size_t k = 0; k < next_launch_; ++k) buckets_[k].work->is_completed();
}

void GradientReducer::finish() {
  if (!enabled_) return;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!arrived_[i]) {  // no gradient from this backward: its local .grad (or zeros) goes in
      arrived_[i] = true;
      fill_slot(i);
      --buckets_[bucket_of_[i]].pending;
    }
  }
  launch_ready();
  FF_ASSERT(next_launch_ == buckets_.size(), "GradientReducer: {} of {} buckets launched", next_launch_,
            buckets_.size());
  autograd::NoGradGuard no_grad;
  for (Bucket& b : buckets_) {
    b.work->wait();
    for (size_t s = 0; s < b.params.size(); ++s) {
      Tensor& p = params_[b.params[s]].second;
      Tensor averaged = b.flat.narrow(0, b.offsets[s], p.numel()).view(p.sizes());
      Tensor g = p.grad();
      if (g.defined() && g.is_contiguous()) {
        g.copy_(averaged);
      } else {
        p.set_grad(averaged.clone());
      }
    }
  }
  reset();
}

std::vector<std::vector<std::string>> GradientReducer::bucket_parameter_names() const {
  std::vector<std::vector<std::string>> out;
  for (const Bucket& b : buckets_) {
    out.emplace_back();
    for (size_t i : b.params) out.back().push_back(params_[i].first);
  }
  return out;
}

}  // namespace ff::distributed
