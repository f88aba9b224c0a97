#include "models/heads/partial_fc.h"

#include <algorithm>
#include <utility>

#include "framework/autograd/autograd.h"
#include "models/heads/distributed_ops.h"
#include "ops/index/index.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

namespace ff::heads {

namespace {

// N(0, std) rows [start, start + count) of a [num_classes, dim] matrix whose every element
// depends only on (seed, its global position): the same centres whatever the number of ranks.
// A normal draw takes two Philox words, so element e sits at generator offset e / 2.
Tensor init_rows(int64_t start, int64_t count, int64_t dim, uint64_t seed, double std, DType dtype) {
  const int64_t first = start * dim, skew = first % 2;
  Generator g(seed);
  g.set_offset(static_cast<uint64_t>((first - skew) / 2));
  const Tensor flat = normal({count * dim + skew}, 0.0, std, dtype, Device(), &g);
  return flat.slice(0, skew, skew + count * dim).reshape({count, dim}).contiguous();
}

}  // namespace

PartialFC::PartialFC(const PartialFCOptions& options, distributed::Communicator& comm)
    : options_(options), comm_(&comm) {
  FF_CHECK(options.embedding_size > 0, "PartialFC: embedding_size must be > 0, got {}", options.embedding_size);
  FF_CHECK(is_floating(options.dtype), "PartialFC: centres must be floating point, got {}", dtype_name(options.dtype));
  options.margin.validate();
  shard_ = class_shard(options.num_classes, comm.world_size(), comm.rank());
  num_sample_ = sampled_count(shard_.count, options.sample_rate);
  Tensor w = init_rows(shard_.start, shard_.count, options.embedding_size, options.seed, options.init_std,
                       options.dtype);
  weight = register_parameter("weight", options.device.is_cpu() ? w : w.to(options.device));
}

Tensor PartialFC::forward(const Tensor&) {
  FF_THROW("PartialFC::forward needs the labels: call forward(embeddings, labels)");
}

Tensor PartialFC::forward(const Tensor& embeddings, const Tensor& labels) {
  check_defined(embeddings, "PartialFC", "embeddings");
  check_defined(labels, "PartialFC", "labels");
  const int64_t dim = options_.embedding_size;
  FF_CHECK(embeddings.dim() == 2 && embeddings.size(1) == dim && is_floating(embeddings.dtype()),
           "PartialFC: embeddings must be floating [b, {}], got {}", dim, embeddings.describe());
  FF_CHECK(labels.dim() == 1 && labels.size(0) == embeddings.size(0) &&
               (labels.dtype() == DType::Int64 || labels.dtype() == DType::Int32),
           "PartialFC: labels {} must be int64/int32 [{}] to match embeddings {}", labels.describe(),
           embeddings.size(0), embeddings.describe());
  distributed::Communicator& comm = *comm_;
  const int world = comm.world_size();

  // The global batch must be P equal blocks (all_gather's contract); say so instead of hanging.
  const int64_t local_rows = embeddings.size(0);
  const std::vector<int64_t> sizes = to_vector<int64_t>(comm.all_gather(full({1}, static_cast<double>(local_rows),
                                                                             DType::Int64)));
  for (int r = 0; r < world; ++r) {
    FF_CHECK(sizes[r] == local_rows, "PartialFC: every rank needs the same local batch, but rank {} has {} rows and "
             "rank {} has {}", comm.rank(), local_rows, r, sizes[r]);
  }

  // Labels of the global batch, on the host: sharding and sampling are host-side.
  const Tensor local_labels = labels.to(DType::Int64).contiguous();
  const std::vector<int64_t> global_labels =
      to_vector<int64_t>(comm.all_gather(local_labels.device().is_cpu() ? local_labels : local_labels.to(Device())));
  for (size_t i = 0; i < global_labels.size(); ++i) {
    FF_CHECK(global_labels[i] >= 0 && global_labels[i] < options_.num_classes,
             "PartialFC: label {} of rank {} (row {} of its batch) is out of range for {} classes",
             global_labels[i], static_cast<int64_t>(i) / local_rows, static_cast<int64_t>(i) % local_rows,
             options_.num_classes);
  }
  last_sample_ = sample_classes(global_labels, shard_, options_.sample_rate, options_.seed, step_);
  ++step_;

  // The sampled centres become a fresh leaf: their gradient stays [S, D] and never touches
  // the [count, D] shard until the optimizer applies it row by row.
  const Device device = weight.device();
  const int64_t sampled = static_cast<int64_t>(last_sample_.local_rows.size());
  Tensor centres;
  {
    autograd::NoGradGuard no_grad;
    centres = last_sample_.all ? weight.detach()
                               : index_select(weight.detach(), 0, tensor_from(last_sample_.local_rows, {sampled}).to(device));
  }
  centres.set_requires_grad(true);
  // Without grad mode (evaluation) no gradient will come: keep nothing.
  if (autograd::grad_mode_enabled()) pending_.push_back(Pending{last_sample_.local_rows, centres});

  const DType compute = weight.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  const Tensor emb = embeddings.dtype() == compute ? embeddings : embeddings.to(compute);
  const Tensor all_embeddings =
      all_gather_rows(comm, emb, options_.scale_embedding_grad_by_world_size ? static_cast<double>(world) : 1.0);
  const Tensor cosines = cosine_logits(all_embeddings, centres);  // [B, S], compute dtype
  const Tensor mapped = tensor_from(last_sample_.mapped_labels, {static_cast<int64_t>(global_labels.size())}).to(device);
  const Tensor logits = combined_margin(cosines, mapped, options_.margin);
  return distributed_cross_entropy(comm, logits, mapped);
}

SparseRows PartialFC::sparse_grad() const {
  std::vector<const Pending*> ready;
  for (const auto& p : pending_) {
    if (p.leaf.grad().defined()) ready.push_back(&p);
  }
  if (ready.empty()) return {};
  const Device device = weight.device();
  auto rows_tensor = [&](const std::vector<int64_t>& rows) {
    return tensor_from(rows, {static_cast<int64_t>(rows.size())}).to(device);
  };
  if (ready.size() == 1) {
    const Tensor g = ready[0]->leaf.grad();
    return {rows_tensor(ready[0]->rows), g.dtype() == weight.dtype() ? g : g.to(weight.dtype())};
  }
  // Several passes: the union of their rows, with shared rows summed.
  std::vector<int64_t> all;
  for (const Pending* p : ready) all.insert(all.end(), p->rows.begin(), p->rows.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  const int64_t dim = options_.embedding_size;
  Tensor values = zeros({static_cast<int64_t>(all.size()), dim}, weight.dtype(), device);
  for (const Pending* p : ready) {
    std::vector<int64_t> position(p->rows.size());
    for (size_t k = 0; k < p->rows.size(); ++k) {
      position[k] = std::lower_bound(all.begin(), all.end(), p->rows[k]) - all.begin();
    }
    const Tensor index = rows_tensor(position).view({-1, 1}).expand({-1, dim}).contiguous();
    const Tensor g = p->leaf.grad();
    values = scatter_add(values, 0, index, g.dtype() == weight.dtype() ? g : g.to(weight.dtype()));
  }
  return {rows_tensor(all), values};
}

void PartialFC::attach_to(SparseRowSGD& opt) {
  opt.set_sparse_grad_source(
      weight, [this] { return sparse_grad(); }, [this] { clear_sparse_grad(); });
}

}  // namespace ff::heads
