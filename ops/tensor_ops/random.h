// Seeded, counter-based random numbers (Philox4x32-10).
//
// Element i of a draw uses Philox(key = seed, counter = (offset + i / 4, stream)) and takes
// word i % 4, so the value of every element depends only on (seed, offset, i): the same on
// CPU and CUDA, whatever the thread count or launch shape. Each draw advances the
// generator's offset by ceil(numel / 4), so consecutive draws never overlap.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

#include "framework/core/tensor.h"

namespace ff {

// One Philox4x32-10 block: 4 random 32-bit words for (key, counter).
std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter_lo, uint64_t counter_hi);
// 32 random bits -> float in [0, 1) with 24 bits of precision (never 1.0).
inline float uint32_to_unit_float(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : seed_(seed) {}
  void manual_seed(uint64_t seed);
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t offset);
  // Reserves `numel` values; returns the starting Philox counter for them.
  uint64_t reserve(int64_t numel);

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
  std::mutex mutex_;
};

Generator& default_generator();
void manual_seed(uint64_t seed);  // seeds the default generator

// Kernel: fills contiguous `out` from (seed, counter). kind: 0 uniform [lo,hi), 1 normal(mean=lo, std=hi).
enum class RandomKind { Uniform, Normal };
using RandomKernel = void (*)(const Tensor& out, uint64_t seed, uint64_t counter, RandomKind kind, double a,
                              double b);

Tensor rand(const Shape& shape, DType dtype = DType::Float32, Device device = Device(),
            Generator* gen = nullptr);  // uniform [0, 1)
Tensor randn(const Shape& shape, DType dtype = DType::Float32, Device device = Device(),
             Generator* gen = nullptr);  // standard normal
Tensor uniform(const Shape& shape, double lo, double hi, DType dtype = DType::Float32,
               Device device = Device(), Generator* gen = nullptr);
Tensor normal(const Shape& shape, double mean, double std, DType dtype = DType::Float32,
              Device device = Device(), Generator* gen = nullptr);
// In-place fills (used by initialisers; not recorded by autograd).
void uniform_(const Tensor& t, double lo, double hi, Generator* gen = nullptr);
void normal_(const Tensor& t, double mean, double std, Generator* gen = nullptr);

}  // namespace ff
