// Device copies (host <-> device round trips, device-to-device, strided, broadcast, casts
// between all dtypes), fill, arange, and Philox random numbers: bit-identical uniforms and
// matching normals on CPU and CUDA for the same (seed, offset).
#include <gtest/gtest.h>

#ifdef FF_WITH_CUDA

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "cuda_test_util.h"
#include "framework/autograd/autograd.h"
#include "framework/cuda/cuda_runtime.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

namespace ff {
namespace {

using cuda_test::check_parity;
using cuda_test::expect_close;
using cuda_test::gpu;
using cuda_test::kExact;
using cuda_test::label;
using cuda_test::random_cpu;

const std::vector<DType> kAll = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16,
                                 DType::Int32,   DType::Int64,   DType::UInt8,   DType::Bool};
const std::vector<DType> kFloat = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};

// Raw bytes of a (contiguous, host) tensor, for bit-exact comparisons.
std::vector<unsigned char> bytes_of(const Tensor& t) {
  const Tensor h = t.to(Device()).contiguous();
  const auto* p = static_cast<const unsigned char*>(h.raw_data());
  return std::vector<unsigned char>(p, p + h.numel() * static_cast<int64_t>(h.element_size()));
}

TEST(CudaCopy, HostDeviceRoundTripIsBitExact) {
  FF_SKIP_WITHOUT_CUDA();
  uint64_t seed = 1;
  for (DType dt : kAll) {
    for (const Shape& s : std::vector<Shape>{{1}, {7}, {33, 65}, {3, 5, 7}, {}, {0, 4}}) {
      const Tensor h = random_cpu(s, dt, ++seed, -100, 100);
      const Tensor d = h.to(gpu());
      ASSERT_TRUE(d.device().is_cuda());
      EXPECT_EQ(bytes_of(d), bytes_of(h)) << label("round trip", dt, s);
      const Tensor dd = d.clone();  // device-to-device
      if (h.numel() > 0) {
        EXPECT_NE(dd.raw_data(), d.raw_data());
      }
      EXPECT_EQ(bytes_of(dd), bytes_of(h)) << label("device clone", dt, s);
    }
  }
}

TEST(CudaCopy, StridedAndBroadcastCopies) {
  FF_SKIP_WITHOUT_CUDA();
  autograd::NoGradGuard no_grad;
  for (DType dt : kAll) {
    const Tensor base = random_cpu({65, 33}, dt, 10, -100, 100);
    check_parity({base}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].t()}; },
                 [](const std::vector<Tensor>& v) { return v[0].contiguous(); }, kExact, label("contiguous of transposed", dt, {33, 65}));
    check_parity({base}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].slice(0, 3, 65, 4).slice(1, 0, 33, 2)}; },
                 [](const std::vector<Tensor>& v) { return v[0].contiguous(); }, kExact, label("contiguous of step-sliced", dt, {16, 17}));
    // Broadcast source into a strided destination view.
    check_parity({base}, cuda_test::as_is,
                 [](const std::vector<Tensor>& v) {
                   Tensor dst = zeros({33, 65}, v[0].dtype(), v[0].device());
                   dst.t().slice(0, 1, 65, 2).copy_(v[0].select(1, 5).slice(0, 0, 32).unsqueeze(1));
                   return dst;
                 },
                 kExact, label("broadcast into strided view", dt, {33, 65}));
  }
  // Host -> non-contiguous device destination (staged through a contiguous device buffer).
  const Tensor src = random_cpu({33, 65}, DType::Float32, 11);
  Tensor dst = zeros({65, 33}, DType::Float32, gpu()).t();
  dst.copy_(src);
  expect_close(src, dst, kExact, "host into transposed device view");
}

TEST(CudaCopy, CastsBetweenAllDtypesMatchCpu) {
  FF_SKIP_WITHOUT_CUDA();
  // Values in [0, 200): in range for every dtype (uint8 included), with fractions to exercise
  // rounding and truncation; plus a transposed source.
  for (DType from : kAll) {
    const Tensor x = random_cpu({33, 65}, from, 20, 0, 200);
    for (DType to : kAll) {
      check_parity({x}, cuda_test::as_is, [to](const std::vector<Tensor>& v) { return v[0].to(to); }, kExact,
                   std::string("cast ") + dtype_name(from) + " -> " + dtype_name(to));
      check_parity({x}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].t()}; },
                   [to](const std::vector<Tensor>& v) { return v[0].to(to); }, kExact,
                   std::string("cast transposed ") + dtype_name(from) + " -> " + dtype_name(to));
    }
  }
  // Floating special values between floating types (overflow to inf, NaN, signed zero, subnormals).
  const Tensor specials = tensor_from(std::vector<double>{std::nan(""), INFINITY, -INFINITY, -0.0, 1e-40, 70000.0,
                                                          -1e39, 3.14159265358979, 1e-8, 65520.0},
                                      {10});
  for (DType from : kFloat) {
    for (DType to : kFloat) {
      check_parity({specials.to(from)}, cuda_test::as_is, [to](const std::vector<Tensor>& v) { return v[0].to(to); },
                   kExact, std::string("cast specials ") + dtype_name(from) + " -> " + dtype_name(to));
    }
  }
}

TEST(CudaFill, FillAndArangeMatchCpu) {
  FF_SKIP_WITHOUT_CUDA();
  autograd::NoGradGuard no_grad;
  for (DType dt : kAll) {
    for (double v : {0.0, 1.0, -3.0, 2.5, 1e5}) {
      if (dt == DType::UInt8 && (v < 0 || v > 255)) continue;  // out of range: undefined in C++
      const Tensor c = full({33, 65}, v, dt);
      const Tensor g = full({33, 65}, v, dt, gpu());
      EXPECT_EQ(bytes_of(g), bytes_of(c)) << label("fill " + std::to_string(v), dt, {33, 65});
    }
    // fill_ through a strided view leaves the other elements alone.
    check_parity({random_cpu({7, 20}, dt, 30, 0, 50)}, cuda_test::as_is,
                 [](const std::vector<Tensor>& v) {
                   Tensor t = v[0].clone();
                   Tensor view = t.slice(1, 1, 20, 3);
                   view.fill_(7.0);
                   return t;
                 },
                 kExact, label("fill_ step-sliced", dt, {7, 20}));
  }
  for (DType dt : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16, DType::Int32, DType::Int64}) {
    for (auto [start, end, step] : std::vector<std::tuple<double, double, double>>{
             {0, 10, 1}, {0, 10, 0.3}, {-5, 5, 0.7}, {100, 0, -3.3}, {0, 1000000, 1}}) {
      const Tensor c = arange(start, end, step, dt);
      const Tensor g = arange(start, end, step, dt, gpu());
      expect_close(c, g, kExact, label("arange " + std::to_string(step), dt, c.sizes()));
    }
  }
}

TEST(CudaRandom, UniformDrawsAreBitIdenticalToCpu) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : kFloat) {
    for (const Shape& s : std::vector<Shape>{{1}, {7}, {33, 65}, {3, 5, 7}, {1000003}}) {
      Generator gc(1234), gg(1234);
      // Several consecutive draws: the generator offsets advance identically.
      for (int draw = 0; draw < 3; ++draw) {
        const Tensor c = uniform(s, -2.0, 3.0, dt, Device(), &gc);
        const Tensor g = uniform(s, -2.0, 3.0, dt, gpu(), &gg);
        EXPECT_EQ(bytes_of(g), bytes_of(c)) << label("uniform draw " + std::to_string(draw), dt, s);
      }
      EXPECT_EQ(gc.offset(), gg.offset());
      const Tensor c = rand(s, dt, Device(), &gc);
      const Tensor g = rand(s, dt, gpu(), &gg);
      EXPECT_EQ(bytes_of(g), bytes_of(c)) << label("rand", dt, s);
    }
  }
}

TEST(CudaRandom, NormalDrawsMatchCpu) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : kFloat) {
    for (const Shape& s : std::vector<Shape>{{1}, {7}, {33, 65}, {100001}}) {
      Generator gc(99), gg(99);
      const Tensor c = normal(s, 0.5, 2.0, dt, Device(), &gc);
      const Tensor g = normal(s, 0.5, 2.0, dt, gpu(), &gg);
      // libdevice log/cos vs glibc: ~1 ulp of double before rounding to the output type.
      const cuda_test::Tol tol = dt == DType::Float64 ? cuda_test::Tol{1e-13, 1e-13} : cuda_test::approx_tol(dt);
      expect_close(c, g, tol, label("normal", dt, s));
      EXPECT_EQ(gc.offset(), gg.offset());
    }
  }
  // In-place fills of a non-contiguous tensor draw the same values as a contiguous one.
  autograd::NoGradGuard no_grad;
  Generator gc(5), gg(5);
  Tensor hc = zeros({65, 33}).t();
  Tensor hg = zeros({65, 33}, DType::Float32, gpu()).t();
  normal_(hc, 0.0, 1.0, &gc);
  normal_(hg, 0.0, 1.0, &gg);
  expect_close(hc, hg, cuda_test::approx_tol(DType::Float32), "normal_ into a transposed view");
}

TEST(CudaCopy, BetweenTwoDevices) {
  FF_SKIP_WITHOUT_CUDA();
  if (cuda::device_count() < 2) GTEST_SKIP() << "needs two CUDA devices, found " << cuda::device_count();
  const Tensor h = random_cpu({33, 65}, DType::Float32, 40);
  const Tensor d0 = h.to(gpu(0));
  const Tensor d1 = d0.to(gpu(1));
  EXPECT_EQ(d1.device(), gpu(1));
  EXPECT_EQ(bytes_of(d1), bytes_of(h));
  EXPECT_EQ(bytes_of(d1.to(gpu(0))), bytes_of(h));
}

}  // namespace
}  // namespace ff

#endif  // FF_WITH_CUDA
