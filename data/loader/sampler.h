// Rank-sharded, epoch-shuffled sampling (the role of torch's DistributedSampler in arcface_torch).
//
// For epoch e every rank computes the same permutation of [0, N) from (seed, e) with a
// Fisher-Yates shuffle driven by a Philox stream, then takes every world_size-th element
// starting at its rank: rank r gets perm[r], perm[r + W], perm[r + 2W], ...
//
// How N not divisible by W is handled (ShardPolicy):
//   DropTail  (default; training) the last N mod W elements of the permutation are dropped, so
//             every rank gets floor(N / W) records and shares are disjoint. A different set of
//             records is dropped each epoch (it is the tail of a fresh permutation).
//   Pad       like torch DistributedSampler(drop_last=False): the permutation is extended with
//             its own first elements to a multiple of W; every record is seen, a few twice.
//   Uneven    an exact partition: every record exactly once, ranks differ by at most one
//             record. For evaluation only: in training unequal counts would leave ranks with
//             different numbers of steps (a collective would hang).
// With shuffle = false the "permutation" is the identity (evaluation order).
#pragma once

#include <cstdint>
#include <vector>

namespace ff::data {

enum class ShardPolicy { DropTail, Pad, Uneven };

struct SamplerOptions {
  int world_size = 1;
  int rank = 0;
  uint64_t seed = 0;
  bool shuffle = true;
  ShardPolicy policy = ShardPolicy::DropTail;
};

class ShardedSampler {
 public:
  ShardedSampler(int64_t num_records, SamplerOptions options);

  // This rank's record indices for `epoch`, in the order to visit them.
  std::vector<int64_t> indices(int64_t epoch) const;
  // How many records this rank gets per epoch (the same every epoch).
  int64_t num_samples() const;
  int64_t num_records() const { return num_records_; }
  const SamplerOptions& options() const { return options_; }

  // The full permutation of [0, num_records) for `epoch` (the same on every rank).
  std::vector<int64_t> permutation(int64_t epoch) const;

 private:
  int64_t num_records_;
  SamplerOptions options_;
};

}  // namespace ff::data
