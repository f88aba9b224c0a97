// CUDA vs CPU parity of the elementwise ops: binary arithmetic and comparisons (with
// broadcasting), unary math, clamp, where and the in-place axpy_ (add_/mul_), on odd shapes,
// transposed and step-sliced inputs, in every registered dtype.
//
// Tolerances: + - * / maximum minimum neg abs sqrt rsqrt clamp where axpy_ are exact (IEEE
// single operations, computed in the same type, rounded the same way, no FMA contraction);
// exp log acos cos sin pow use libdevice (within 2 ulp of glibc): cuda_test::approx_tol.
#include <gtest/gtest.h>

#ifdef FF_WITH_CUDA

#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "framework/autograd/autograd.h"
#include "ops/elementwise/binary.h"
#include "ops/elementwise/unary.h"

namespace ff {
namespace {

using cuda_test::approx_tol;
using cuda_test::check_parity;
using cuda_test::kExact;
using cuda_test::kNumericDTypes;
using cuda_test::label;
using cuda_test::random_cpu;
using cuda_test::Tol;

const std::vector<DType> kFloatTypes = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};

bool floating(DType t) { return is_floating(t); }

// (a shape, b shape) pairs: equal odd shapes and broadcasts.
const std::vector<std::pair<Shape, Shape>> kShapePairs = {
    {{1}, {1}},           {{7}, {7}},       {{33, 65}, {33, 65}}, {{3, 5, 7}, {3, 5, 7}},
    {{33, 1}, {1, 65}},   {{3, 5, 7}, {7}}, {{}, {3, 5, 7}},      {{5, 1}, {3, 1, 7}},
    {{1025, 1023}, {1023}}};  // > 1M elements: several grid-stride rounds

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
struct NamedBinary {
  const char* name;
  BinaryFn fn;
  bool float_only;
  bool exact;
};
const std::vector<NamedBinary> kBinary = {
    {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }, false, true},
    {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }, false, true},
    {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }, false, true},
    {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }, true, true},
    {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, false, true},
    {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, false, true},
    {"pow", [](const Tensor& a, const Tensor& b) { return pow(abs(a), b); }, true, false},
    {"eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); }, false, true},
    {"ne", [](const Tensor& a, const Tensor& b) { return ne(a, b); }, false, true},
    {"lt", [](const Tensor& a, const Tensor& b) { return lt(a, b); }, false, true},
    {"le", [](const Tensor& a, const Tensor& b) { return le(a, b); }, false, true},
    {"gt", [](const Tensor& a, const Tensor& b) { return gt(a, b); }, false, true},
    {"ge", [](const Tensor& a, const Tensor& b) { return ge(a, b); }, false, true},
};

TEST(CudaElementwise, BinaryOpsMatchCpu) {
  FF_SKIP_WITHOUT_CUDA();
  uint64_t seed = 1;
  for (const NamedBinary& op : kBinary) {
    for (DType dt : kNumericDTypes) {
      if (op.float_only && !floating(dt)) continue;
      for (const auto& [sa, sb] : kShapePairs) {
        // Small integers make ties (for eq/maximum) and keep integer products in range.
        const Tensor a = floating(dt) ? random_cpu(sa, dt, ++seed) : cuda_test::random_small_ints(sa, dt, ++seed, 9);
        const Tensor b = floating(dt) ? random_cpu(sb, dt, ++seed) : cuda_test::random_small_ints(sb, dt, ++seed, 9);
        const Tol tol = op.exact ? kExact : approx_tol(dt);
        check_parity({a, b}, cuda_test::as_is, [&](const std::vector<Tensor>& v) { return op.fn(v[0], v[1]); }, tol,
                     label(op.name, dt, sa) + " with " + shape_str(sb));
      }
    }
  }
}

TEST(CudaElementwise, ComparisonsOfBool) {
  FF_SKIP_WITHOUT_CUDA();
  const Tensor a = random_cpu({33, 65}, DType::Bool, 11), b = random_cpu({65}, DType::Bool, 12);
  for (const NamedBinary& op : kBinary) {
    const std::string n = op.name;
    if (n != "eq" && n != "ne" && n != "lt" && n != "le" && n != "gt" && n != "ge") continue;
    check_parity({a, b}, cuda_test::as_is, [&](const std::vector<Tensor>& v) { return op.fn(v[0], v[1]); }, kExact,
                 n + " bool");
  }
}

TEST(CudaElementwise, NonContiguousInputs) {
  FF_SKIP_WITHOUT_CUDA();
  for (DType dt : kNumericDTypes) {
    const Tensor base_t = random_cpu({65, 33}, dt, 21, 0.5, 3.0);  // transposed to [33, 65]
    const Tensor base_s = random_cpu({7, 20}, dt, 22, 0.5, 3.0);   // sliced with step 3 to [7, 7]
    const Tensor b = random_cpu({33, 65}, dt, 23, 0.5, 3.0), c = random_cpu({7, 7}, dt, 24, 0.5, 3.0);
    check_parity({base_t, b}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].t(), v[1]}; },
                 [](const std::vector<Tensor>& v) { return mul(v[0], v[1]); }, kExact, label("mul transposed", dt, {33, 65}));
    check_parity({base_s, c}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].slice(1, 1, 20, 3), v[1]}; },
                 [](const std::vector<Tensor>& v) { return sub(v[0], v[1]); }, kExact, label("sub step-sliced", dt, {7, 7}));
    check_parity({base_t}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].t().slice(0, 2, 33, 5)}; },
                 [](const std::vector<Tensor>& v) { return neg(v[0]); }, kExact, label("neg transposed+sliced", dt, {7, 65}));
    // A broadcast (stride-0) operand on the left, a transposed one on the right.
    check_parity({base_t}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].t()}; },
                 [](const std::vector<Tensor>& v) { return add(v[0].select(0, 3).unsqueeze(0), v[0]); }, kExact,
                 label("add broadcast row", dt, {33, 65}));
  }
}

struct NamedUnary {
  const char* name;
  std::function<Tensor(const Tensor&)> fn;
  double lo, hi;  // input range
  bool exact;
  bool numeric;  // also for integer types
};

TEST(CudaElementwise, UnaryOpsMatchCpu) {
  FF_SKIP_WITHOUT_CUDA();
  const std::vector<NamedUnary> ops = {
      {"neg", [](const Tensor& x) { return neg(x); }, -3, 3, true, true},
      {"abs", [](const Tensor& x) { return abs(x); }, -3, 3, true, true},
      {"exp", [](const Tensor& x) { return exp(x); }, -5, 5, false, false},
      {"log", [](const Tensor& x) { return log(x); }, 0.01, 10, false, false},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, 0, 10, true, false},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, 0.01, 10, true, false},
      {"acos", [](const Tensor& x) { return acos(x); }, -1, 1, false, false},
      {"cos", [](const Tensor& x) { return cos(x); }, -6, 6, false, false},
      {"sin", [](const Tensor& x) { return sin(x); }, -6, 6, false, false},
      {"pow 2", [](const Tensor& x) { return pow(x, 2.0); }, -3, 3, true, false},
      {"pow 0.5", [](const Tensor& x) { return pow(x, 0.5); }, 0, 4, false, false},
      {"pow -1.5", [](const Tensor& x) { return pow(x, -1.5); }, 0.1, 4, false, false},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.75); }, -2, 2, true, false},
      {"clamp lo", [](const Tensor& x) { return clamp(x, 0.25, std::nullopt); }, -2, 2, true, false},
      {"clamp hi", [](const Tensor& x) { return clamp(x, std::nullopt, 0.25); }, -2, 2, true, false},
  };
  const std::vector<Shape> shapes = {{1}, {7}, {33, 65}, {3, 5, 7}, {}};
  uint64_t seed = 100;
  for (const NamedUnary& op : ops) {
    for (DType dt : kNumericDTypes) {
      if (!floating(dt) && !op.numeric) continue;
      for (const Shape& s : shapes) {
        const Tensor x = floating(dt) ? random_cpu(s, dt, ++seed, op.lo, op.hi)
                                      : cuda_test::random_small_ints(s, dt, ++seed, 50);
        const Tol tol = op.exact ? kExact : approx_tol(dt);
        check_parity({x}, cuda_test::as_is, [&](const std::vector<Tensor>& v) { return op.fn(v[0]); }, tol,
                     label(op.name, dt, s));
      }
      // Transposed input.
      const Tensor xt = floating(dt) ? random_cpu({65, 33}, dt, ++seed, op.lo, op.hi)
                                     : cuda_test::random_small_ints({65, 33}, dt, ++seed, 50);
      check_parity({xt}, [](const std::vector<Tensor>& v) { return std::vector<Tensor>{v[0].t()}; },
                   [&](const std::vector<Tensor>& v) { return op.fn(v[0]); }, op.exact ? kExact : approx_tol(dt),
                   label(std::string(op.name) + " transposed", dt, {33, 65}));
    }
  }
}

TEST(CudaElementwise, NanAndInfinityHandling) {
  FF_SKIP_WITHOUT_CUDA();
  const double nan = std::nan(""), inf = INFINITY;
  for (DType dt : kFloatTypes) {
    const Tensor a = tensor_from(std::vector<double>{nan, 1.0, -inf, 2.0, nan, 0.0}, {6}).to(dt);
    const Tensor b = tensor_from(std::vector<double>{1.0, nan, 3.0, inf, nan, -0.0}, {6}).to(dt);
    for (const NamedBinary& op : kBinary) {
      check_parity({a, b}, cuda_test::as_is, [&](const std::vector<Tensor>& v) { return op.fn(v[0], v[1]); },
                   op.exact ? kExact : approx_tol(dt), label(std::string(op.name) + " nan/inf", dt, {6}));
    }
    check_parity({a}, cuda_test::as_is, [](const std::vector<Tensor>& v) { return clamp(v[0], -1.0, 1.0); }, kExact,
                 label("clamp nan/inf", dt, {6}));
  }
}

TEST(CudaElementwise, WhereBroadcasts) {
  FF_SKIP_WITHOUT_CUDA();
  const std::vector<DType> all = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16,
                                  DType::Int32,   DType::Int64,   DType::UInt8,   DType::Bool};
  for (DType dt : all) {
    const Tensor c = random_cpu({3, 1, 7}, DType::Bool, 31);
    const Tensor a = random_cpu({5, 7}, dt, 32, 0, 9), b = random_cpu({3, 5, 1}, dt, 33, 0, 9);
    check_parity({c, a, b}, cuda_test::as_is, [](const std::vector<Tensor>& v) { return where(v[0], v[1], v[2]); },
                 kExact, label("where", dt, {3, 5, 7}));
  }
}

TEST(CudaElementwise, AxpyInPlace) {
  FF_SKIP_WITHOUT_CUDA();
  autograd::NoGradGuard no_grad;
  for (DType dt : kNumericDTypes) {
    const Tensor a = floating(dt) ? random_cpu({33, 65}, dt, 41) : cuda_test::random_small_ints({33, 65}, dt, 41, 9);
    const Tensor b = floating(dt) ? random_cpu({65}, dt, 42) : cuda_test::random_small_ints({65}, dt, 42, 9);
    // add_ with a broadcast b and a fractional alpha (integers truncate alpha, like the CPU).
    check_parity({a, b}, cuda_test::as_is,
                 [](const std::vector<Tensor>& v) {
                   Tensor acc = v[0].clone();
                   add_(acc, v[1], 0.3);
                   return acc;
                 },
                 kExact, label("add_", dt, {33, 65}));
    // mul_ on a transposed (non-contiguous) tensor, written in place through the view.
    check_parity({a}, cuda_test::as_is,
                 [](const std::vector<Tensor>& v) {
                   Tensor acc = v[0].clone();
                   Tensor view = acc.t();
                   mul_(view, 3.0);
                   return acc;
                 },
                 kExact, label("mul_ transposed", dt, {33, 65}));
  }
}

TEST(CudaElementwise, TooManyDimsIsAnError) {
  FF_SKIP_WITHOUT_CUDA();
  // Nine dims of size 2 in reversed order cannot merge: more than the kernels' 8-dim limit.
  const Tensor x = ones(Shape(9, 2), DType::Float32, cuda_test::gpu()).permute({8, 7, 6, 5, 4, 3, 2, 1, 0});
  try {
    neg(x);
    ADD_FAILURE() << "expected an ff::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("neg"), std::string::npos) << e.what();
  }
  // Merged dims are fine: a contiguous 9-dim tensor is one run.
  EXPECT_NO_THROW(neg(ones(Shape(9, 2), DType::Float32, cuda_test::gpu())));
}

}  // namespace
}  // namespace ff

#endif  // FF_WITH_CUDA
