// Binary elementwise ops: forward and backward side by side; CPU kernel at the bottom.
#include "ops/elementwise/binary.h"

#include <cmath>

#include "framework/autograd/autograd.h"
#include "framework/dispatch/registry.h"
#include "framework/graph/tracer.h"
#include "ops/common/cpu_loops.h"
#include "ops/elementwise/unary.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/fill.h"

namespace ff {

FF_REGISTER_OP(add, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(sub, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(mul, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(div, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(maximum, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(minimum, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(pow, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(eq, dispatch::kOnnxExportable);
FF_REGISTER_OP(ne, dispatch::kOnnxExportable);
FF_REGISTER_OP(lt, dispatch::kOnnxExportable);
FF_REGISTER_OP(le, dispatch::kOnnxExportable);
FF_REGISTER_OP(gt, dispatch::kOnnxExportable);
FF_REGISTER_OP(ge, dispatch::kOnnxExportable);
FF_REGISTER_OP(axpy_, dispatch::kNoFlags);

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
    case BinaryOp::Maximum: return "maximum";
    case BinaryOp::Minimum: return "minimum";
    case BinaryOp::Pow: return "pow";
    case BinaryOp::Eq: return "eq";
    case BinaryOp::Ne: return "ne";
    case BinaryOp::Lt: return "lt";
    case BinaryOp::Le: return "le";
    case BinaryOp::Gt: return "gt";
    case BinaryOp::Ge: return "ge";
  }
  return "?";
}

namespace {

bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }

// Shape/dtype/device checks, promotion, allocation and the kernel call. No autograd.
Tensor binary_forward(const Tensor& a, const Tensor& b, BinaryOp op) {
  graph::OpTrace trace(binary_op_name(op));
  const char* name = binary_op_name(op);
  check_defined(a, name, "a");
  check_defined(b, name, "b");
  check_same_device({a, b}, name);
  const Shape shape = broadcast_shapes(a.sizes(), b.sizes(), name);
  const DType compute = promote_types(a.dtype(), b.dtype());
  const Tensor ac = a.dtype() == compute ? a.detach() : a.detach().to(compute);
  const Tensor bc = b.dtype() == compute ? b.detach() : b.detach().to(compute);
  Tensor out = Tensor::empty(shape, is_comparison(op) ? DType::Bool : compute, a.device());
  // One handle per op; the kernels behind them may be shared (the CPU one is).
  static const std::vector<dispatch::OpHandle> handles = [] {
    std::vector<dispatch::OpHandle> h;
    for (int i = 0; i <= static_cast<int>(BinaryOp::Ge); ++i) h.emplace_back(binary_op_name(static_cast<BinaryOp>(i)));
    return h;
  }();
  handles[static_cast<int>(op)].kernel<BinaryKernel>(a.device().type, compute)(out, ac, bc, op);
  if (trace.recording()) trace.record({a, b}, {out});
  return out;
}

Tensor scalar_like(const Tensor& t, double v) { return full({}, v, t.dtype(), t.device()); }

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, BinaryOp::Add);
  const Shape sa = a.sizes(), sb = b.sizes();
  autograd::record("add", {a, b}, {out}, {}, [sa, sb](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    const Tensor& g = ctx.grad_outputs[0];
    return {ctx.needs_input_grad(0) ? sum_to(g, sa) : Tensor(), ctx.needs_input_grad(1) ? sum_to(g, sb) : Tensor()};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, BinaryOp::Sub);
  const Shape sa = a.sizes(), sb = b.sizes();
  autograd::record("sub", {a, b}, {out}, {}, [sa, sb](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    const Tensor& g = ctx.grad_outputs[0];
    return {ctx.needs_input_grad(0) ? sum_to(g, sa) : Tensor(),
            ctx.needs_input_grad(1) ? sum_to(neg(g), sb) : Tensor()};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, BinaryOp::Mul);
  autograd::record("mul", {a, b}, {out}, {a, b}, [](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    const Tensor& g = ctx.grad_outputs[0];
    const Tensor& a = ctx.saved(0);
    const Tensor& b = ctx.saved(1);
    return {ctx.needs_input_grad(0) ? sum_to(mul(g, b), a.sizes()) : Tensor(),
            ctx.needs_input_grad(1) ? sum_to(mul(g, a), b.sizes()) : Tensor()};
  });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(a, b, BinaryOp::Div);
  autograd::record("div", {a, b}, {out}, {a, b}, [](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    const Tensor& g = ctx.grad_outputs[0];
    const Tensor& a = ctx.saved(0);
    const Tensor& b = ctx.saved(1);
    Tensor ga, gb;
    if (ctx.needs_input_grad(0)) ga = sum_to(div(g, b), a.sizes());
    if (ctx.needs_input_grad(1)) gb = sum_to(neg(div(mul(g, a), mul(b, b))), b.sizes());  // -g*a/b^2
    return {ga, gb};
  });
  return out;
}

namespace {
// maximum/minimum: the gradient flows to `a` where `a_wins` (ties go to a), otherwise to b.
Tensor select_binary(const Tensor& a, const Tensor& b, BinaryOp op) {
  Tensor out = binary_forward(a, b, op);
  autograd::record(binary_op_name(op), {a, b}, {out}, {a, b},
                   [op](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
                     const Tensor& g = ctx.grad_outputs[0];
                     const Tensor& a = ctx.saved(0);
                     const Tensor& b = ctx.saved(1);
                     const Tensor a_wins = op == BinaryOp::Maximum ? ge(a, b) : le(a, b);
                     const Tensor zero = zeros({}, g.dtype(), g.device());
                     return {ctx.needs_input_grad(0) ? sum_to(where(a_wins, g, zero), a.sizes()) : Tensor(),
                             ctx.needs_input_grad(1) ? sum_to(where(a_wins, zero, g), b.sizes()) : Tensor()};
                   });
  return out;
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return select_binary(a, b, BinaryOp::Maximum); }
Tensor minimum(const Tensor& a, const Tensor& b) { return select_binary(a, b, BinaryOp::Minimum); }

Tensor pow(const Tensor& base, const Tensor& exponent) {
  Tensor out = binary_forward(base, exponent, BinaryOp::Pow);
  autograd::record("pow", {base, exponent}, {out}, {base, exponent, out},
                   [](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
                     const Tensor& g = ctx.grad_outputs[0];
                     const Tensor& x = ctx.saved(0);
                     const Tensor& y = ctx.saved(1);
                     const Tensor& out = ctx.saved(2);
                     Tensor gx, gy;
                     // d/dx x^y = y * x^(y-1); d/dy x^y = x^y * log(x) (taken as 0 where x == 0).
                     if (ctx.needs_input_grad(0)) gx = sum_to(mul(g, mul(y, pow(x, sub(y, 1.0)))), x.sizes());
                     if (ctx.needs_input_grad(1)) {
                       const Tensor zero = zeros({}, x.dtype(), x.device());
                       const Tensor safe_log = where(eq(x, zero), zero, log(x));
                       gy = sum_to(mul(g, mul(out, safe_log)), y.sizes());
                     }
                     return {gx, gy};
                   });
  return out;
}

Tensor add(const Tensor& a, double b) { return add(a, scalar_like(a, b)); }
Tensor sub(const Tensor& a, double b) { return sub(a, scalar_like(a, b)); }
Tensor mul(const Tensor& a, double b) { return mul(a, scalar_like(a, b)); }
Tensor div(const Tensor& a, double b) { return div(a, scalar_like(a, b)); }

Tensor eq(const Tensor& a, const Tensor& b) { return binary_forward(a, b, BinaryOp::Eq); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary_forward(a, b, BinaryOp::Ne); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary_forward(a, b, BinaryOp::Lt); }
Tensor le(const Tensor& a, const Tensor& b) { return binary_forward(a, b, BinaryOp::Le); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary_forward(a, b, BinaryOp::Gt); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary_forward(a, b, BinaryOp::Ge); }

void add_(const Tensor& a, const Tensor& b, double alpha) {
  check_defined(a, "add_", "a");
  check_defined(b, "add_", "b");
  check_same_device({a, b}, "add_");
  FF_CHECK(broadcast_shapes(a.sizes(), b.sizes(), "add_") == a.sizes(), "add_: {} does not broadcast to {}",
           b.describe(), a.describe());
  FF_CHECK(!(autograd::grad_mode_enabled() && a.requires_grad()),
           "add_: in-place write to {} which requires grad; wrap it in autograd::NoGradGuard", a.describe());
  const Tensor bc = b.dtype() == a.dtype() ? b : b.to(a.dtype());
  static const dispatch::OpHandle op("axpy_");
  op.kernel<AxpyKernel>(a.device().type, a.dtype())(a, bc, alpha);
  a.storage()->bump_version();
}

void mul_(const Tensor& a, double s) {
  check_defined(a, "mul_", "a");
  FF_CHECK(!(autograd::grad_mode_enabled() && a.requires_grad()),
           "mul_: in-place write to {} which requires grad; wrap it in autograd::NoGradGuard", a.describe());
  // a += (s - 1) * a keeps one kernel for both in-place updates.
  static const dispatch::OpHandle op("axpy_");
  op.kernel<AxpyKernel>(a.device().type, a.dtype())(a, a, s - 1.0);
  a.storage()->bump_version();
}

// ---- CPU kernels --------------------------------------------------------------------------------------
namespace {

template <typename T>
void binary_cpu_typed(const Tensor& out, const Tensor& a, const Tensor& b, BinaryOp op) {
  using A = acc_t<T>;
  auto arith = [&](auto f) { cpu::cpu_map<T, T, T>(out, [f](T x, T y) { return static_cast<T>(f(A(x), A(y))); }, {a, b}); };
  auto cmp = [&](auto f) { cpu::cpu_map<bool, T, T>(out, [f](T x, T y) { return f(A(x), A(y)); }, {a, b}); };
  switch (op) {
    case BinaryOp::Add: return arith([](A x, A y) { return x + y; });
    case BinaryOp::Sub: return arith([](A x, A y) { return x - y; });
    case BinaryOp::Mul: return arith([](A x, A y) { return x * y; });
    case BinaryOp::Div: return arith([](A x, A y) { return x / y; });  // registered for floats only
    case BinaryOp::Maximum: return arith([](A x, A y) { return (x >= y || x != x) ? x : y; });  // NaN propagates
    case BinaryOp::Minimum: return arith([](A x, A y) { return (x <= y || x != x) ? x : y; });
    case BinaryOp::Pow:
      return arith([](A x, A y) { return static_cast<A>(std::pow(static_cast<double>(x), static_cast<double>(y))); });
    case BinaryOp::Eq: return cmp([](A x, A y) { return x == y; });
    case BinaryOp::Ne: return cmp([](A x, A y) { return x != y; });
    case BinaryOp::Lt: return cmp([](A x, A y) { return x < y; });
    case BinaryOp::Le: return cmp([](A x, A y) { return x <= y; });
    case BinaryOp::Gt: return cmp([](A x, A y) { return x > y; });
    case BinaryOp::Ge: return cmp([](A x, A y) { return x >= y; });
  }
}

void binary_cpu(const Tensor& out, const Tensor& a, const Tensor& b, BinaryOp op) {
  FF_DISPATCH_ALL(a.dtype(), binary_op_name(op), [&] { binary_cpu_typed<scalar_t>(out, a, b, op); });
}

void axpy_cpu(const Tensor& a, const Tensor& b, double alpha) {
  FF_DISPATCH_ALL(a.dtype(), "add_", [&] {
    using A = acc_t<scalar_t>;
    const A al = static_cast<A>(alpha);
    cpu::cpu_map<scalar_t, scalar_t, scalar_t>(
        a, [al](scalar_t x, scalar_t y) { return static_cast<scalar_t>(A(x) + al * A(y)); }, {a, b});
  });
}

}  // namespace

FF_REGISTER_KERNEL(add, CPU, dispatch::kNumericTypes, &binary_cpu);
FF_REGISTER_KERNEL(sub, CPU, dispatch::kNumericTypes, &binary_cpu);
FF_REGISTER_KERNEL(mul, CPU, dispatch::kNumericTypes, &binary_cpu);
FF_REGISTER_KERNEL(div, CPU, dispatch::kFloatingTypes, &binary_cpu);
FF_REGISTER_KERNEL(maximum, CPU, dispatch::kNumericTypes, &binary_cpu);
FF_REGISTER_KERNEL(minimum, CPU, dispatch::kNumericTypes, &binary_cpu);
FF_REGISTER_KERNEL(pow, CPU, dispatch::kFloatingTypes, &binary_cpu);
FF_REGISTER_KERNEL(eq, CPU, dispatch::kAllTypes, &binary_cpu);
FF_REGISTER_KERNEL(ne, CPU, dispatch::kAllTypes, &binary_cpu);
FF_REGISTER_KERNEL(lt, CPU, dispatch::kAllTypes, &binary_cpu);
FF_REGISTER_KERNEL(le, CPU, dispatch::kAllTypes, &binary_cpu);
FF_REGISTER_KERNEL(gt, CPU, dispatch::kAllTypes, &binary_cpu);
FF_REGISTER_KERNEL(ge, CPU, dispatch::kAllTypes, &binary_cpu);
FF_REGISTER_KERNEL(axpy_, CPU, dispatch::kNumericTypes, &axpy_cpu);

}  // namespace ff
