#include "ops/tensor_ops/random.h"

#include <cmath>

#include "framework/dispatch/registry.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/philox.h"

namespace ff {

FF_REGISTER_OP(random, dispatch::kNoFlags);

std::array<uint32_t, 4> philox4x32(uint64_t key, uint64_t counter_lo, uint64_t counter_hi) {
  const cuda::Philox4 r = cuda::philox4x32_10(key, counter_lo, counter_hi);
  return {r.w[0], r.w[1], r.w[2], r.w[3]};
}

void Generator::manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(mutex_);
  seed_ = seed;
  offset_ = 0;
}

void Generator::set_offset(uint64_t offset) {
  std::lock_guard<std::mutex> lock(mutex_);
  offset_ = offset;
}

uint64_t Generator::reserve(int64_t numel) {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t start = offset_;
  offset_ += static_cast<uint64_t>((numel + 3) / 4);
  return start;
}

Generator& default_generator() {
  static Generator g;
  return g;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

namespace {

void fill_random(const Tensor& t, RandomKind kind, double a, double b, Generator* gen) {
  check_defined(t, "random fill", "out");
  FF_CHECK(is_floating(t.dtype()), "random fill: tensor must be floating point, got {}", t.describe());
  Generator& g = gen ? *gen : default_generator();
  // Normal draws use two uniforms per value (Box-Muller), so reserve twice as many.
  const int64_t draws = kind == RandomKind::Normal ? 2 * t.numel() : t.numel();
  const uint64_t counter = g.reserve(draws);
  static const dispatch::OpHandle op("random");
  Tensor target = t.is_contiguous() ? t : Tensor::empty(t.sizes(), t.dtype(), t.device());
  op.kernel<RandomKernel>(t.device().type, t.dtype())(target, g.seed(), counter, kind, a, b);
  if (!target.is_same(t)) copy_into(t, target);
  t.storage()->bump_version();
}

Tensor make_random(const Shape& shape, DType dtype, Device device, Generator* gen, RandomKind kind, double a,
                   double b) {
  Tensor t = Tensor::empty(shape, dtype, device);
  fill_random(t, kind, a, b, gen);
  return t;
}

}  // namespace

Tensor rand(const Shape& s, DType d, Device dev, Generator* g) {
  return make_random(s, d, dev, g, RandomKind::Uniform, 0.0, 1.0);
}
Tensor randn(const Shape& s, DType d, Device dev, Generator* g) {
  return make_random(s, d, dev, g, RandomKind::Normal, 0.0, 1.0);
}
Tensor uniform(const Shape& s, double lo, double hi, DType d, Device dev, Generator* g) {
  FF_CHECK(lo <= hi, "uniform: lower bound {} exceeds upper bound {}", lo, hi);
  return make_random(s, d, dev, g, RandomKind::Uniform, lo, hi);
}
Tensor normal(const Shape& s, double mean, double std, DType d, Device dev, Generator* g) {
  FF_CHECK(std >= 0.0, "normal: std must be non-negative, got {}", std);
  return make_random(s, d, dev, g, RandomKind::Normal, mean, std);
}
void uniform_(const Tensor& t, double lo, double hi, Generator* g) {
  FF_CHECK(lo <= hi, "uniform_: lower bound {} exceeds upper bound {}", lo, hi);
  fill_random(t, RandomKind::Uniform, lo, hi, g);
}
void normal_(const Tensor& t, double mean, double std, Generator* g) {
  FF_CHECK(std >= 0.0, "normal_: std must be non-negative, got {}", std);
  fill_random(t, RandomKind::Normal, mean, std, g);
}

// ---- CPU kernel ---------------------------------------------------------------------------------
namespace {
// Uniform value i of a stream starting at `counter`.
inline float uniform_at(uint64_t seed, uint64_t counter, int64_t i) {
  const auto block = philox4x32(seed, counter + static_cast<uint64_t>(i / 4), 0);
  return uint32_to_unit_float(block[i % 4]);
}

void random_cpu(const Tensor& out, uint64_t seed, uint64_t counter, RandomKind kind, double a, double b) {
  FF_DISPATCH_FLOATING(out.dtype(), "random", [&] {
    scalar_t* p = out.data<scalar_t>();
    const int64_t n = out.numel();
    for (int64_t i = 0; i < n; ++i) {
      double v;
      if (kind == RandomKind::Uniform) {
        v = a + (b - a) * uniform_at(seed, counter, i);
      } else {
        // Box-Muller on uniforms 2i and 2i+1; 1-u keeps the log argument in (0, 1].
        const double u1 = 1.0 - uniform_at(seed, counter, 2 * i);
        const double u2 = uniform_at(seed, counter, 2 * i + 1);
        v = a + b * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
      }
      p[i] = static_cast<scalar_t>(static_cast<acc_t<scalar_t>>(v));
    }
  });
}
}  // namespace

FF_REGISTER_KERNEL(random, CPU, dispatch::kFloatingTypes, &random_cpu);

}  // namespace ff
