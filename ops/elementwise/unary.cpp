// Unary elementwise ops: forward and backward side by side; CPU kernel at the bottom.
#include "ops/elementwise/unary.h"

#include <cmath>
#include <limits>

#include "framework/autograd/autograd.h"
#include "framework/dispatch/registry.h"
#include "framework/graph/tracer.h"
#include "ops/common/cpu_loops.h"
#include "ops/elementwise/binary.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/fill.h"

namespace ff {

#define FF_UNARY_OP(name) FF_REGISTER_OP(name, dispatch::kDifferentiable | dispatch::kOnnxExportable)
FF_UNARY_OP(neg);
FF_UNARY_OP(exp);
FF_UNARY_OP(log);
FF_UNARY_OP(sqrt);
FF_UNARY_OP(rsqrt);
FF_UNARY_OP(abs);
FF_UNARY_OP(acos);
FF_UNARY_OP(cos);
FF_UNARY_OP(sin);
FF_UNARY_OP(pow_scalar);
FF_UNARY_OP(clamp);
FF_UNARY_OP(where);
#undef FF_UNARY_OP

const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Rsqrt: return "rsqrt";
    case UnaryOp::Abs: return "abs";
    case UnaryOp::Acos: return "acos";
    case UnaryOp::Cos: return "cos";
    case UnaryOp::Sin: return "sin";
    case UnaryOp::PowScalar: return "pow_scalar";
    case UnaryOp::Clamp: return "clamp";
  }
  return "?";
}

namespace {

constexpr double kAbsent = std::numeric_limits<double>::quiet_NaN();

// Graph attributes of a unary op: the exponent of pow_scalar, the bounds of clamp (absent
// bounds are left out).
graph::Attributes unary_attrs(UnaryOp op, double p0, double p1) {
  graph::Attributes attrs;
  if (op == UnaryOp::PowScalar) attrs["exponent"] = p0;
  if (op == UnaryOp::Clamp) {
    if (!std::isnan(p0)) attrs["lo"] = p0;
    if (!std::isnan(p1)) attrs["hi"] = p1;
  }
  return attrs;
}

Tensor unary_forward(const Tensor& x, UnaryOp op, double p0 = kAbsent, double p1 = kAbsent) {
  graph::OpTrace trace(unary_op_name(op));
  const char* name = unary_op_name(op);
  check_defined(x, name, "x");
  static const std::vector<dispatch::OpHandle> handles = [] {
    std::vector<dispatch::OpHandle> h;
    for (int i = 0; i <= static_cast<int>(UnaryOp::Clamp); ++i) h.emplace_back(unary_op_name(static_cast<UnaryOp>(i)));
    return h;
  }();
  Tensor out = Tensor::empty(x.sizes(), x.dtype(), x.device());
  handles[static_cast<int>(op)].kernel<UnaryKernel>(x.device().type, x.dtype())(out, x.detach(), op, p0, p1);
  if (trace.recording()) trace.record({x}, {out}, unary_attrs(op, p0, p1));
  return out;
}

// Records `op` whose input gradient is g * dfdx(x, out).
template <typename Deriv>
void record_unary(const char* op, const Tensor& x, const Tensor& out, Deriv dfdx) {
  autograd::record(op, {x}, {out}, {x, out}, [dfdx](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    return {mul(ctx.grad_outputs[0], dfdx(ctx.saved(0), ctx.saved(1)))};
  });
}

}  // namespace

Tensor neg(const Tensor& x) {
  Tensor out = unary_forward(x, UnaryOp::Neg);
  autograd::record("neg", {x}, {out}, {}, [](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    return {neg(ctx.grad_outputs[0])};
  });
  return out;
}

Tensor exp(const Tensor& x) {
  Tensor out = unary_forward(x, UnaryOp::Exp);
  record_unary("exp", x, out, [](const Tensor&, const Tensor& y) { return y; });
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = unary_forward(x, UnaryOp::Log);
  record_unary("log", x, out, [](const Tensor& x, const Tensor&) { return pow(x, -1.0); });
  return out;
}

Tensor sqrt(const Tensor& x) {
  Tensor out = unary_forward(x, UnaryOp::Sqrt);
  record_unary("sqrt", x, out, [](const Tensor&, const Tensor& y) { return div(full_like(y, 0.5), y); });
  return out;
}

Tensor rsqrt(const Tensor& x) {
  Tensor out = unary_forward(x, UnaryOp::Rsqrt);
  // d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 y^3
  record_unary("rsqrt", x, out, [](const Tensor&, const Tensor& y) { return mul(pow(y, 3.0), -0.5); });
  return out;
}

Tensor abs(const Tensor& x) {
  Tensor out = unary_forward(x, UnaryOp::Abs);
  record_unary("abs", x, out, [](const Tensor& x, const Tensor&) {
    const Tensor zero = zeros({}, x.dtype(), x.device());
    // sign(x): +1, -1, or 0 at 0
    return sub(cast(gt(x, zero), x.dtype()), cast(lt(x, zero), x.dtype()));
  });
  return out;
}

Tensor acos(const Tensor& x) {
  Tensor out = unary_forward(x, UnaryOp::Acos);
  record_unary("acos", x, out, [](const Tensor& x, const Tensor&) {
    return neg(rsqrt(sub(ones({}, x.dtype(), x.device()), mul(x, x))));
  });
  return out;
}

Tensor cos(const Tensor& x) {
  Tensor out = unary_forward(x, UnaryOp::Cos);
  record_unary("cos", x, out, [](const Tensor& x, const Tensor&) { return neg(sin(x)); });
  return out;
}

Tensor sin(const Tensor& x) {
  Tensor out = unary_forward(x, UnaryOp::Sin);
  record_unary("sin", x, out, [](const Tensor& x, const Tensor&) { return cos(x); });
  return out;
}

Tensor pow(const Tensor& x, double e) {
  Tensor out = unary_forward(x, UnaryOp::PowScalar, e);
  record_unary("pow_scalar", x, out, [e](const Tensor& x, const Tensor&) {
    return e == 0.0 ? zeros_like(x) : mul(pow(x, e - 1.0), e);
  });
  return out;
}

Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  FF_CHECK(!(lo && hi) || *lo <= *hi, "clamp: lower bound {} exceeds upper bound {}", *lo, *hi);
  Tensor out = unary_forward(x, UnaryOp::Clamp, lo.value_or(kAbsent), hi.value_or(kAbsent));
  record_unary("clamp", x, out, [lo, hi](const Tensor& x, const Tensor&) {
    Tensor pass = ones_like(x);
    if (lo) pass = mul(pass, cast(ge(x, full({}, *lo, x.dtype(), x.device())), x.dtype()));
    if (hi) pass = mul(pass, cast(le(x, full({}, *hi, x.dtype(), x.device())), x.dtype()));
    return pass;
  });
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  graph::OpTrace trace("where");
  check_defined(cond, "where", "cond");
  check_defined(a, "where", "a");
  check_defined(b, "where", "b");
  check_same_device({cond, a, b}, "where");
  FF_CHECK(cond.dtype() == DType::Bool, "where: condition must be bool, got {}", cond.describe());
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.sizes(), a.sizes(), "where"), b.sizes(), "where");
  const DType dt = promote_types(a.dtype(), b.dtype());
  Tensor out = Tensor::empty(shape, dt, a.device());
  static const dispatch::OpHandle op("where");
  op.kernel<WhereKernel>(a.device().type, dt)(out, cond, a.detach().to(dt), b.detach().to(dt));
  const Shape sa = a.sizes(), sb = b.sizes();
  autograd::record("where", {a, b}, {out}, {cond}, [sa, sb](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    const Tensor& g = ctx.grad_outputs[0];
    const Tensor zero = zeros({}, g.dtype(), g.device());
    const Tensor& c = ctx.saved(0);
    return {ctx.needs_input_grad(0) ? sum_to(where(c, g, zero), sa) : Tensor(),
            ctx.needs_input_grad(1) ? sum_to(where(c, zero, g), sb) : Tensor()};
  });
  if (trace.recording()) trace.record({cond, a, b}, {out});
  return out;
}

// ---- CPU kernels --------------------------------------------------------------------------------------
namespace {

template <typename T>
void unary_cpu_typed(const Tensor& out, const Tensor& x, UnaryOp op, double p0, double p1) {
  using A = acc_t<T>;
  auto map = [&](auto f) { cpu::cpu_map<T, T>(out, [f](T v) { return static_cast<T>(f(A(v))); }, {x}); };
  switch (op) {
    case UnaryOp::Neg: return map([](A v) { return -v; });
    case UnaryOp::Abs: return map([](A v) { return v < A(0) ? -v : v; });
    default: break;
  }
  if constexpr (std::is_floating_point_v<A>) {
    switch (op) {
      case UnaryOp::Exp: return map([](A v) { return std::exp(v); });
      case UnaryOp::Log: return map([](A v) { return std::log(v); });
      case UnaryOp::Sqrt: return map([](A v) { return std::sqrt(v); });
      case UnaryOp::Rsqrt: return map([](A v) { return A(1) / std::sqrt(v); });
      case UnaryOp::Acos: return map([](A v) { return std::acos(v); });
      case UnaryOp::Cos: return map([](A v) { return std::cos(v); });
      case UnaryOp::Sin: return map([](A v) { return std::sin(v); });
      case UnaryOp::PowScalar: {
        const A e = static_cast<A>(p0);
        if (p0 == 2.0) return map([](A v) { return v * v; });
        return map([e](A v) { return std::pow(v, e); });
      }
      case UnaryOp::Clamp: {
        const bool has_lo = !std::isnan(p0), has_hi = !std::isnan(p1);
        const A lo = static_cast<A>(p0), hi = static_cast<A>(p1);
        return map([=](A v) {
          if (has_lo && v < lo) v = lo;
          if (has_hi && v > hi) v = hi;
          return v;
        });
      }
      default: break;
    }
  }
  FF_THROW("{}: not supported for dtype {}", unary_op_name(op), dtype_name(dtype_of<T>));
}

void unary_cpu(const Tensor& out, const Tensor& x, UnaryOp op, double p0, double p1) {
  FF_DISPATCH_ALL(x.dtype(), unary_op_name(op), [&] {
    if constexpr (!std::is_same_v<scalar_t, bool>) unary_cpu_typed<scalar_t>(out, x, op, p0, p1);
  });
}

void where_cpu(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  FF_DISPATCH_ALL(out.dtype(), "where", [&] {
    cpu::cpu_map<scalar_t, bool, scalar_t, scalar_t>(
        out, [](bool c, scalar_t x, scalar_t y) { return c ? x : y; }, {cond, a, b});
  });
}

}  // namespace

FF_REGISTER_KERNEL(neg, CPU, dispatch::kNumericTypes, &unary_cpu);
FF_REGISTER_KERNEL(abs, CPU, dispatch::kNumericTypes, &unary_cpu);
FF_REGISTER_KERNEL(exp, CPU, dispatch::kFloatingTypes, &unary_cpu);
FF_REGISTER_KERNEL(log, CPU, dispatch::kFloatingTypes, &unary_cpu);
FF_REGISTER_KERNEL(sqrt, CPU, dispatch::kFloatingTypes, &unary_cpu);
FF_REGISTER_KERNEL(rsqrt, CPU, dispatch::kFloatingTypes, &unary_cpu);
FF_REGISTER_KERNEL(acos, CPU, dispatch::kFloatingTypes, &unary_cpu);
FF_REGISTER_KERNEL(cos, CPU, dispatch::kFloatingTypes, &unary_cpu);
FF_REGISTER_KERNEL(sin, CPU, dispatch::kFloatingTypes, &unary_cpu);
FF_REGISTER_KERNEL(pow_scalar, CPU, dispatch::kFloatingTypes, &unary_cpu);
FF_REGISTER_KERNEL(clamp, CPU, dispatch::kFloatingTypes, &unary_cpu);
FF_REGISTER_KERNEL(where, CPU, dispatch::kAllTypes, &where_cpu);

}  // namespace ff
