// Counter-based random streams for the data pipeline (Philox4x32-10, ops/tensor_ops/random.h).
//
// A stream is named by (key, stream id): the values it yields depend only on those and on how
// many were drawn before, never on threads or timing. The loader derives
//   the epoch permutation from   key = mix(seed, "perm"),  stream = epoch
//   sample augmentation from     key = mix(seed, "augm"),  stream = (epoch, record index)
// so a record's flip is the same whichever worker decodes it and however many workers run.
#pragma once

#include <array>
#include <cstdint>

#include "ops/tensor_ops/random.h"

namespace ff::data {

// splitmix64 finaliser: spreads a 64-bit value over all bits (used to combine seeds and tags).
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
inline uint64_t mix64(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b)); }

// Tags that keep the purposes' streams apart for the same user seed.
constexpr uint64_t kPermutationTag = 0x7065726d;    // "perm"
constexpr uint64_t kAugmentationTag = 0x6175676d;   // "augm"

class CounterRng {
 public:
  CounterRng(uint64_t key, uint64_t stream) : key_(key), stream_(stream) {}

  uint32_t next_u32() {
    if (used_ == 4) {
      block_ = philox4x32(key_, counter_++, stream_);
      used_ = 0;
    }
    return block_[used_++];
  }
  uint64_t next_u64() {
    const uint64_t hi = next_u32();
    return (hi << 32) | next_u32();
  }
  // Uniform in [0, 1) with 24 bits.
  float next_float() { return uint32_to_unit_float(next_u32()); }
  // Uniform in [lo, hi).
  float uniform(float lo, float hi) { return lo + (hi - lo) * next_float(); }
  // Uniform integer in [0, n), n > 0, without modulo bias (Lemire's multiply-and-reject). Own
  // code rather than std::uniform_int_distribution, whose output differs between standard libraries.
  uint64_t below(uint64_t n) {
    for (;;) {
      const uint64_t x = next_u64();
      const unsigned __int128 m = static_cast<unsigned __int128>(x) * n;
      const uint64_t low = static_cast<uint64_t>(m);
      if (low >= n || low >= (-n) % n) return static_cast<uint64_t>(m >> 64);
    }
  }
  bool coin(float p_true = 0.5f) { return next_float() < p_true; }

 private:
  uint64_t key_;
  uint64_t stream_;
  uint64_t counter_ = 0;
  std::array<uint32_t, 4> block_{};
  int used_ = 4;
};

}  // namespace ff::data
