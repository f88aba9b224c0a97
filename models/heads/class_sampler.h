// Partial FC class sharding and per-step class sampling (host-side; the label vectors are the
// global batch, a few thousand entries).
//
// Sharding (arcface_torch partial_fc_v2): rank r of P owns the contiguous classes
//   [start_r, start_r + count_r),  count_r = C / P + (r < C % P),  start_r = (C / P)·r + min(r, C % P)
// so any C is balanced, the remainder going one each to the first ranks.
//
// Sampling (Partial FC V2, §6 of face_recognition.md): a shard of n classes keeps
// num_sample = int(sample_rate · n) centres per step: every positive (a class of the global
// batch) plus the highest-keyed negatives, where the key of global class c at (seed, step) is
// word c % 4 of Philox4x32-10(key = seed, counter = (c / 4, step)); ties go to the smaller id.
// When the shard holds more positives than num_sample, exactly the positives are kept (the
// count then varies per step, as in arcface_torch). The sample depends only on (seed, step,
// labels, shard): no state, no communication, identical on every run and any thread count.
#pragma once

#include <cstdint>
#include <vector>

namespace ff::heads {

struct ClassShard {
  int64_t start = 0;
  int64_t count = 0;
  bool owns(int64_t global_class) const { return global_class >= start && global_class < start + count; }
};

ClassShard class_shard(int64_t num_classes, int world_size, int rank);

// int(sample_rate · num_local), arcface_torch's rounding; sample_rate in [0, 1].
int64_t sampled_count(int64_t num_local, double sample_rate);

uint32_t class_sample_key(uint64_t seed, int64_t step, int64_t global_class);

struct ClassSample {
  std::vector<int64_t> local_rows;  // sampled local class indices, strictly increasing
  std::vector<int64_t> mapped_labels;  // per row of the global batch: column in local_rows, or -1
  int64_t num_positive = 0;         // distinct classes of the batch on this shard
  bool all = false;                 // every local class is sampled (local_rows = 0..count-1)
};

// global_labels: class ids of the whole (all-gathered) batch, each in [0, num_classes).
ClassSample sample_classes(const std::vector<int64_t>& global_labels, const ClassShard& shard, double sample_rate,
                           uint64_t seed, int64_t step);

}  // namespace ff::heads
