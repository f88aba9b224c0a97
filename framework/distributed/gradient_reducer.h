// Bucketed, overlapped gradient averaging for data parallel training (used by DataParallel).
//
// Parameters are packed, in reverse registration order (roughly the order backward produces
// their gradients), into buckets of at most `bucket_cap_bytes` with one dtype and device each;
// when one bucket fills, the open buckets of the other dtypes close too, so that each bucket is
// a run of neighbouring layers (see build_buckets).
// Each parameter's grad-ready hook copies its gradient into its bucket; when a bucket is full its
// asynchronous all_reduce(avg) starts, while backward goes on with the earlier layers. Buckets
// start strictly in bucket order, on every rank, so the collectives always match across ranks
// even if gradients arrive in a different order. finish() waits for them all and writes the
// averages back into the parameters' .grad.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/distributed/communicator.h"

namespace ff::distributed {

class GradientReducer {
 public:
  // `params` must be leaves that require grad, the same (names, shapes, order) on every rank.
  GradientReducer(std::vector<std::pair<std::string, Tensor>> params, Communicator& comm, size_t bucket_cap_bytes);

  // Called by the parameter's grad-ready hook, once per backward, with its final gradient.
  void on_grad_ready(size_t param_index);
  // Starts what has not started yet (parameters that got no gradient in this backward
  // contribute their current .grad, or zeros), waits for every bucket, and writes the averaged
  // gradients into .grad (defined afterwards for every parameter, identical on every rank).
  void finish();

  // While disabled (no_sync), hooks do nothing and gradients just accumulate locally.
  void set_enabled(bool enabled) { enabled_ = enabled; }
  bool enabled() const { return enabled_; }

  size_t num_buckets() const { return buckets_.size(); }
  // Buckets whose all-reduce has started in this backward.
  size_t num_launched() const;
  // Names of the parameters in each bucket, in bucket (= launch) order.
  std::vector<std::vector<std::string>> bucket_parameter_names() const;

 private:
  struct Bucket {
    std::vector<size_t> params;    // indices into params_
    std::vector<int64_t> offsets;  // element offset of each in `flat`
    Tensor flat;                   // contiguous, the bucket's dtype and device
    size_t pending = 0;            // parameters whose gradient has not arrived yet
    std::shared_ptr<Work> work;    // set once launched
  };

  void build_buckets(size_t cap_bytes);
  // Copies parameter i's gradient (or zeros when it has none) into its slot.
  void fill_slot(size_t i);
  // Launches the consecutive full buckets starting at next_launch_.
  void launch_ready();
  void reset();

  std::vector<std::pair<std::string, Tensor>> params_;
  Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;  // per parameter
  std::vector<size_t> slot_of_;    // per parameter: index within its bucket
  std::vector<bool> arrived_;      // per parameter, this backward
  size_t next_launch_ = 0;
  bool enabled_ = true;
};

}  // namespace ff::distributed
