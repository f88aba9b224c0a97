// Data parallel training: every rank holds a replica of the module, runs it on its own part of
// the global batch, and averages the gradients over the ranks before the optimizer step.
//
//   auto& comm = distributed::world();
//   distributed::DataParallel dp(model, comm);        // rank 0's parameters and buffers everywhere
//   for (step ...) {
//     Tensor loss = criterion(model->forward(local_batch), local_labels);  // mean over the local batch
//     loss.backward();                                  // all-reduces start from the grad-ready hooks
//     dp.finish_gradient_sync();                        // waits; .grad = average over ranks
//     optimizer.step();  model->zero_grad();
//   }
//
// With a mean loss per rank and equal local batches, the averaged gradient is the gradient of the
// mean loss over the global batch, so P ranks with batch B train like one process with batch P*B
// (models without BatchNorm exactly; BatchNorm statistics stay local to each rank, as in
// PyTorch DDP without SyncBatchNorm, and buffers are only broadcast at construction).
//
// Gradient accumulation: run the first k-1 micro-batches inside `auto guard = dp.no_sync();`
// (no communication; gradients accumulate locally in .grad) and the last one outside it, then
// finish_gradient_sync() averages the accumulated gradients.
//
// The averaging uses the communicator's asynchronous all_reduce in size-capped buckets
// (gradient_reducer.h), so it overlaps backward: MPI_Iallreduce on CPU; with the NCCL
// communicator the same calls run on NCCL's stream, ordered after the compute stream by events.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "framework/distributed/communicator.h"
#include "framework/distributed/gradient_reducer.h"
#include "framework/nn/module.h"

namespace ff::distributed {

struct DataParallelOptions {
  double bucket_cap_mb = 25.0;    // bucket size cap in MiB (PyTorch DDP's default)
  bool broadcast_at_start = true; // copy rank 0's parameters and buffers to every rank
};

class DataParallel {
 public:
  // Checks that every rank has the same parameters and buffers (names' count, shapes), then
  // broadcasts rank 0's values and registers the gradient hooks. Collective.
  DataParallel(std::shared_ptr<nn::Module> module, Communicator& comm, DataParallelOptions options = {});
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  nn::Module& module() { return *module_; }
  Tensor forward(const Tensor& x) { return module_->forward(x); }
  Communicator& communicator() { return comm_; }

  // After backward, before the optimizer step: waits for the buckets and writes the gradients
  // averaged over the ranks into .grad. Collective; a no-op inside no_sync().
  void finish_gradient_sync();

  // Within its lifetime, backward passes do not communicate (gradient accumulation).
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(GradientReducer* reducer);
    ~NoSyncGuard();
    NoSyncGuard(NoSyncGuard&& other) noexcept;
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(NoSyncGuard&&) = delete;

   private:
    GradientReducer* reducer_;
    bool previous_;
  };
  [[nodiscard]] NoSyncGuard no_sync();

  // Copies `root`'s parameters and buffers to every rank (done at construction). Collective.
  void broadcast_parameters_and_buffers(int root = 0);

  size_t num_buckets() const { return reducer_->num_buckets(); }
  std::vector<std::vector<std::string>> bucket_parameter_names() const { return reducer_->bucket_parameter_names(); }

 private:
  void check_same_structure_on_all_ranks();

  std::shared_ptr<nn::Module> module_;
  Communicator& comm_;
  // Shared with the hooks (as weak pointers), which outlive this object on the parameters.
  std::shared_ptr<GradientReducer> reducer_;
};

}  // namespace ff::distributed
