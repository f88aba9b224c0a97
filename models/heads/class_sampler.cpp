#include "models/heads/class_sampler.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "framework/common/check.h"
#include "ops/tensor_ops/random.h"

namespace ff::heads {

ClassShard class_shard(int64_t num_classes, int world_size, int rank) {
  FF_CHECK(num_classes > 0, "PartialFC: num_classes must be > 0, got {}", num_classes);
  FF_CHECK(world_size > 0 && rank >= 0 && rank < world_size, "PartialFC: rank {} is not in a world of {}", rank,
           world_size);
  const int64_t base = num_classes / world_size, extra = num_classes % world_size;
  ClassShard s;
  s.count = base + (rank < extra ? 1 : 0);
  s.start = base * rank + std::min<int64_t>(rank, extra);
  return s;
}

int64_t sampled_count(int64_t num_local, double sample_rate) {
  FF_CHECK(sample_rate >= 0.0 && sample_rate <= 1.0, "PartialFC: sample_rate must lie in [0, 1], got {}", sample_rate);
  return std::min<int64_t>(num_local, static_cast<int64_t>(sample_rate * static_cast<double>(num_local)));
}

uint32_t class_sample_key(uint64_t seed, int64_t step, int64_t global_class) {
  const auto words = philox4x32(seed, static_cast<uint64_t>(global_class) / 4, static_cast<uint64_t>(step));
  return words[static_cast<size_t>(global_class % 4)];
}

ClassSample sample_classes(const std::vector<int64_t>& global_labels, const ClassShard& shard, double sample_rate,
                           uint64_t seed, int64_t step) {
  const int64_t num_sample = sampled_count(shard.count, sample_rate);
  ClassSample out;
  std::vector<int64_t> positives;  // local ids
  for (int64_t label : global_labels) {
    if (shard.owns(label)) positives.push_back(label - shard.start);
  }
  std::sort(positives.begin(), positives.end());
  positives.erase(std::unique(positives.begin(), positives.end()), positives.end());
  out.num_positive = static_cast<int64_t>(positives.size());

  if (num_sample >= shard.count) {
    out.all = true;
    out.local_rows.resize(static_cast<size_t>(shard.count));
    for (int64_t i = 0; i < shard.count; ++i) out.local_rows[static_cast<size_t>(i)] = i;
  } else if (num_sample <= out.num_positive) {
    out.local_rows = positives;
  } else {
    // The (num_sample - positives) negatives with the largest keys.
    std::vector<std::pair<uint32_t, int64_t>> negatives;  // (key, local id)
    negatives.reserve(static_cast<size_t>(shard.count - out.num_positive));
    size_t next_positive = 0;
    for (int64_t i = 0; i < shard.count; ++i) {
      if (next_positive < positives.size() && positives[next_positive] == i) {
        ++next_positive;
        continue;
      }
      negatives.emplace_back(class_sample_key(seed, step, shard.start + i), i);
    }
    const size_t want = static_cast<size_t>(num_sample - out.num_positive);
    auto higher = [](const std::pair<uint32_t, int64_t>& a, const std::pair<uint32_t, int64_t>& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    };
    std::nth_element(negatives.begin(), negatives.begin() + static_cast<std::ptrdiff_t>(want), negatives.end(), higher);
    out.local_rows = positives;
    for (size_t k = 0; k < want; ++k) out.local_rows.push_back(negatives[k].second);
    std::sort(out.local_rows.begin(), out.local_rows.end());
  }

  out.mapped_labels.resize(global_labels.size());
  for (size_t i = 0; i < global_labels.size(); ++i) {
    const int64_t label = global_labels[i];
    if (!shard.owns(label)) {
      out.mapped_labels[i] = -1;
      continue;
    }
    const auto it = std::lower_bound(out.local_rows.begin(), out.local_rows.end(), label - shard.start);
    FF_ASSERT(it != out.local_rows.end() && *it == label - shard.start, "positive class {} was not sampled", label);
    out.mapped_labels[i] = static_cast<int64_t>(it - out.local_rows.begin());
  }
  return out;
}

}  // namespace ff::heads
