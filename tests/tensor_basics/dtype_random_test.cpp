// DTypes, promotion, 16-bit float conversion, the Philox generator and factories.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "framework/common/half.h"
#include "framework/core/dtype.h"
#include "ops/elementwise/binary.h"
#include "ops/elementwise/unary.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

namespace ff {
namespace {

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::Float16), 2u);
  EXPECT_EQ(dtype_size(DType::BFloat16), 2u);
  EXPECT_EQ(dtype_size(DType::Int64), 8u);
  EXPECT_STREQ(dtype_name(DType::BFloat16), "bfloat16");
  EXPECT_EQ(dtype_from_name("int32"), DType::Int32);
  EXPECT_THROW(dtype_from_name("float8"), Error);
}

TEST(DType, Promotion) {
  EXPECT_EQ(promote_types(DType::Float32, DType::Float64), DType::Float64);
  EXPECT_EQ(promote_types(DType::Int64, DType::Float16), DType::Float16);
  EXPECT_EQ(promote_types(DType::Float16, DType::BFloat16), DType::Float32);
  EXPECT_EQ(promote_types(DType::Bool, DType::Int32), DType::Int32);
}

TEST(Half, KnownBitPatterns) {
  EXPECT_EQ(Half(1.0f).bits, 0x3c00);
  EXPECT_EQ(Half(-2.0f).bits, 0xc000);
  EXPECT_EQ(Half(65504.0f).bits, 0x7bff);             // largest finite
  EXPECT_EQ(Half(65520.0f).bits, 0x7c00);             // rounds to inf
  EXPECT_EQ(Half(5.9604645e-8f).bits, 0x0001);        // smallest subnormal
  EXPECT_EQ(Half(1.0f / 3.0f).bits, 0x3555);          // round to nearest
  EXPECT_EQ(Half(1e-9f).bits, 0x0000);                // underflow to zero
  EXPECT_TRUE(std::isnan(static_cast<float>(Half(std::nanf("")))));
  EXPECT_EQ(static_cast<float>(Half::from_bits(0x7c00)), std::numeric_limits<float>::infinity());
  // Exhaustive round trip over every finite half value.
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const Half h = Half::from_bits(static_cast<uint16_t>(b));
    const float f = h;
    if (std::isnan(f)) continue;
    ASSERT_EQ(Half(f).bits, b) << "bits " << b;
  }
}

TEST(BFloat16, RoundsToNearestEven) {
  EXPECT_EQ(BFloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(BFloat16(1.00390625f).bits, 0x3f80);  // exactly halfway, even stays
  EXPECT_EQ(BFloat16(1.01171875f).bits, 0x3f82);  // halfway, rounds up to even
  EXPECT_FLOAT_EQ(static_cast<float>(BFloat16(3.0f)), 3.0f);
  EXPECT_TRUE(std::isnan(static_cast<float>(BFloat16(std::nanf("")))));
}

TEST(Philox, MatchesPublishedKnownAnswers) {
  // Known-answer vectors for Philox4x32-10 (Salmon et al., Random123 kat_vectors).
  auto zero = philox4x32(0, 0, 0);
  EXPECT_EQ(zero, (std::array<uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  auto ones = philox4x32(~0ull, ~0ull, ~0ull);
  EXPECT_EQ(ones, (std::array<uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  auto pi = philox4x32(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull, 0x0370734413198a2eull);
  EXPECT_EQ(pi, (std::array<uint32_t, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(Random, SeededDrawsAreReproducibleAndAdvance) {
  Generator g1(42), g2(42);
  const auto a = to_vector<float>(rand({100}, DType::Float32, Device(), &g1));
  const auto b = to_vector<float>(rand({100}, DType::Float32, Device(), &g2));
  EXPECT_EQ(a, b);
  const auto c = to_vector<float>(rand({100}, DType::Float32, Device(), &g1));
  EXPECT_NE(a, c);  // the offset advanced
  for (float v : a) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LT(v, 1.0f);
  }
}

TEST(Random, ElementValueDependsOnlyOnSeedOffsetAndIndex) {
  // A draw of 10 and a draw of 6 from fresh generators agree on their common prefix.
  Generator g1(7), g2(7);
  const auto a = to_vector<double>(randn({10}, DType::Float64, Device(), &g1));
  const auto b = to_vector<double>(randn({6}, DType::Float64, Device(), &g2));
  for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(a[i], b[i]);
}

TEST(Random, NormalMomentsAreClose) {
  Generator g(3);
  Tensor x = normal({200000}, 2.0, 3.0, DType::Float64, Device(), &g);
  const double m = mean(x).item<double>();
  const double var = mean(pow(sub(x, m), 2.0)).item<double>();
  EXPECT_NEAR(m, 2.0, 0.03);
  EXPECT_NEAR(std::sqrt(var), 3.0, 0.03);
  Tensor u = uniform({200000}, -1.0, 3.0, DType::Float32, Device(), &g);
  EXPECT_NEAR(mean(u).item<double>(), 1.0, 0.02);
  EXPECT_GE(min(u).item<double>(), -1.0);
  EXPECT_LT(max(u).item<double>(), 3.0);
}

TEST(Factories, Values) {
  EXPECT_EQ(to_vector<int64_t>(arange(5)), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(to_vector<double>(arange(1.0, 2.0, 0.25, DType::Float64)), (std::vector<double>{1.0, 1.25, 1.5, 1.75}));
  EXPECT_EQ(to_vector<float>(full({2, 2}, 1.5)), (std::vector<float>{1.5f, 1.5f, 1.5f, 1.5f}));
  EXPECT_EQ(zeros({0, 3}).numel(), 0);
  EXPECT_EQ(to_vector<float>(ones({3}, DType::Float16)), (std::vector<float>{1.0f, 1.0f, 1.0f}));
  EXPECT_THROW(arange(0.0, 1.0, 0.0), Error);
  EXPECT_THROW(zeros({2, -1}), Error);
  EXPECT_THROW(tensor_from(std::vector<float>{1.0f, 2.0f}, {3}), Error);
}

}  // namespace
}  // namespace ff

namespace ff {
namespace {
TEST(Reduce, IntegerAndBoolSumsReturnInt64) {
  Tensor mask = gt(tensor_from(std::vector<float>{1, -1, 2, 3}, {4}), zeros({}));
  Tensor s = sum(mask);
  EXPECT_EQ(s.dtype(), DType::Int64);
  EXPECT_EQ(s.item<int64_t>(), 3);
  EXPECT_EQ(sum(arange(5, DType::Int32)).item<int64_t>(), 10);
}
}  // namespace
}  // namespace ff

namespace ff {
namespace {
TEST(CpuAllocator, LargeBlocksAreReusedForTheSameSize) {
  void* first = nullptr;
  {
    Tensor a = Tensor::empty({1 << 20}, DType::Float32);  // 4 MiB: cached when freed
    first = a.raw_data();
  }
  Tensor b = Tensor::empty({1 << 20}, DType::Float32);
  EXPECT_EQ(b.raw_data(), first) << "a freed 4 MiB block should be handed out again";
  Tensor c = Tensor::empty({1 << 21}, DType::Float32);  // another size: never the cached block
  EXPECT_NE(c.raw_data(), first);
  // Reused memory is ordinary memory: contents are whatever fill writes.
  b.fill_(3.0);
  EXPECT_EQ(sum(b).item<double>(), 3.0 * (1 << 20));
}
}  // namespace
}  // namespace ff
