#include "data/loader/sampler.h"

#include <numeric>
#include <utility>

#include "data/loader/counter_rng.h"
#include "framework/common/check.h"

namespace ff::data {

ShardedSampler::ShardedSampler(int64_t num_records, SamplerOptions options)
    : num_records_(num_records), options_(options) {
  FF_CHECK(num_records >= 0, "ShardedSampler: negative record count {}", num_records);
  FF_CHECK(options.world_size >= 1, "ShardedSampler: world_size must be >= 1, got {}", options.world_size);
  FF_CHECK(options.rank >= 0 && options.rank < options.world_size, "ShardedSampler: rank {} out of range [0, {})",
           options.rank, options.world_size);
}

int64_t ShardedSampler::num_samples() const {
  const int64_t w = options_.world_size;
  switch (options_.policy) {
    case ShardPolicy::DropTail: return num_records_ / w;
    case ShardPolicy::Pad: return (num_records_ + w - 1) / w;
    case ShardPolicy::Uneven: return num_records_ / w + (options_.rank < num_records_ % w ? 1 : 0);
  }
  return 0;
}

std::vector<int64_t> ShardedSampler::permutation(int64_t epoch) const {
  std::vector<int64_t> perm(static_cast<size_t>(num_records_));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  if (!options_.shuffle) return perm;
  CounterRng rng(mix64(options_.seed, kPermutationTag), static_cast<uint64_t>(epoch));
  for (int64_t i = num_records_ - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i) + 1));
    std::swap(perm[i], perm[j]);
  }
  return perm;
}

std::vector<int64_t> ShardedSampler::indices(int64_t epoch) const {
  std::vector<int64_t> perm = permutation(epoch);
  const int64_t w = options_.world_size;
  int64_t total = num_records_;
  if (options_.policy == ShardPolicy::DropTail) total = num_records_ / w * w;
  if (options_.policy == ShardPolicy::Pad && num_records_ > 0) {
    total = (num_records_ + w - 1) / w * w;
    // Extend with the permutation's own head, wrapping as often as needed (N < W is possible).
    for (int64_t i = num_records_; i < total; ++i) perm.push_back(perm[i % num_records_]);
  }
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(num_samples()));
  for (int64_t i = options_.rank; i < total; i += w) mine.push_back(perm[i]);
  FF_ASSERT(static_cast<int64_t>(mine.size()) == num_samples(), "sampler produced {} indices, expected {}",
            mine.size(), num_samples());
  return mine;
}

}  // namespace ff::data
