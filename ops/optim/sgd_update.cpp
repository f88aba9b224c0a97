// sgd_update: argument checks and dispatch, then the CPU kernel.
#include "ops/optim/sgd_update.h"

#include <cmath>
#include <type_traits>

#include "framework/dispatch/registry.h"
#include "ops/common/cpu_loops.h"

namespace ff {

FF_REGISTER_OP(sgd_update, dispatch::kNoFlags);

void sgd_update_(const SgdUpdateLists& lists, const SgdUpdateHyper& hyper) {
  constexpr const char* op = "sgd_update";
  FF_CHECK(std::isfinite(hyper.lr) && hyper.lr >= 0.0, "{}: invalid learning rate {}", op, hyper.lr);
  FF_CHECK(hyper.momentum >= 0.0 && hyper.weight_decay >= 0.0, "{}: momentum {} and weight_decay {} must be >= 0",
           op, hyper.momentum, hyper.weight_decay);
  FF_CHECK(!hyper.nesterov || (hyper.momentum > 0.0 && hyper.dampening == 0.0),
           "{}: nesterov momentum requires momentum > 0 and dampening == 0 (got momentum {}, dampening {})", op,
           hyper.momentum, hyper.dampening);
  const auto& params = lists.params;
  if (params.empty()) return;
  optim_detail::check_param_list(op, params);
  const DType dtype = params[0].dtype();
  optim_detail::check_list_matches_params(op, "grads", lists.grads, params, dtype);
  if (hyper.momentum != 0.0) {
    optim_detail::check_list_matches_params(op, "momentum_buffers", lists.momentum_buffers, params,
                                            optimizer_state_dtype(dtype));
    FF_CHECK(lists.buffer_is_fresh.size() == params.size(), "{}: {} buffer_is_fresh flags for {} parameters", op,
             lists.buffer_is_fresh.size(), params.size());
  }
  static const dispatch::OpHandle handle("sgd_update");
  handle.kernel<SgdUpdateKernel>(params[0].device().type, dtype)(lists, hyper);
  for (size_t i = 0; i < params.size(); ++i) {
    params[i].storage()->bump_version();
    if (hyper.momentum != 0.0) lists.momentum_buffers[i].storage()->bump_version();
  }
}

// ---- CPU kernel ------------------------------------------------------------------------------------
namespace {

// The options that change the arithmetic are template flags, so that each variant's inner
// loop is branch-free and vectorises: kMomentum (momentum != 0), kNesterov, kFresh (the
// buffer's first step), kDecay (weight_decay != 0). maximize is a sign applied to the grad.
template <typename P, bool kMomentum, bool kNesterov, bool kFresh, bool kDecay>
void sgd_update_one(const Tensor& param, const Tensor& grad, const Tensor* buffer, const SgdUpdateHyper& h) {
  using A = acc_t<P>;  // also the momentum buffer's element type
  const A lr = static_cast<A>(h.lr), wd = static_cast<A>(h.weight_decay);
  const A momentum = static_cast<A>(h.momentum), keep = static_cast<A>(1.0 - h.dampening);
  const A sign = h.maximize ? A(-1) : A(1);
  P* p = param.data<P>();
  const P* g = grad.data<P>();
  A* b = kMomentum ? buffer->data<A>() : nullptr;
  // Without momentum the buffer operand walks the parameter's strides and is never touched.
  const std::array<Strides, 3> strides = {param.strides(), grad.strides(),
                                          kMomentum ? buffer->strides() : param.strides()};
  auto update = [=](P& pv, P gv, A* buf) {
    const A x = static_cast<A>(pv);
    A d = sign * static_cast<A>(gv);
    if constexpr (kDecay) d += wd * x;
    if constexpr (kMomentum) {
      const A next = kFresh ? d : momentum * *buf + keep * d;
      *buf = next;
      d = kNesterov ? d + momentum * next : next;
    }
    pv = static_cast<P>(x - lr * d);
  };
  cpu::cpu_strided_loop<3>(
      param.sizes(), strides, [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& s) {
        P* __restrict__ pp = p + off[0];
        const P* __restrict__ gp = g + off[1];
        A* __restrict__ bp = kMomentum ? b + off[2] : nullptr;
        if (s[0] == 1 && s[1] == 1 && (!kMomentum || s[2] == 1)) {  // dense: vectorises
          for (int64_t i = 0; i < n; ++i) update(pp[i], gp[i], kMomentum ? bp + i : nullptr);
        } else {
          for (int64_t i = 0; i < n; ++i) update(pp[i * s[0]], gp[i * s[1]], kMomentum ? bp + i * s[2] : nullptr);
        }
      });
}

// Calls f(std::true_type) or f(std::false_type): turns a runtime flag into a template argument.
template <typename F>
void with_flag(bool flag, F&& f) {
  if (flag) {
    f(std::true_type{});
  } else {
    f(std::false_type{});
  }
}

void sgd_update_cpu(const SgdUpdateLists& lists, const SgdUpdateHyper& hyper) {
  const bool use_momentum = hyper.momentum != 0.0;
  FF_DISPATCH_FLOATING(lists.params[0].dtype(), "sgd_update", [&] {
    for (size_t i = 0; i < lists.params.size(); ++i) {
      const Tensor* buffer = use_momentum ? &lists.momentum_buffers[i] : nullptr;
      const bool fresh = use_momentum && lists.buffer_is_fresh[i] != 0;
      auto run = [&](auto momentum, auto nesterov, auto fresh_flag, auto decay) {
        sgd_update_one<scalar_t, decltype(momentum)::value, decltype(nesterov)::value, decltype(fresh_flag)::value,
                       decltype(decay)::value>(lists.params[i], lists.grads[i], buffer, hyper);
      };
      with_flag(hyper.weight_decay != 0.0, [&](auto decay) {
        if (!use_momentum) return run(std::false_type{}, std::false_type{}, std::false_type{}, decay);
        with_flag(hyper.nesterov, [&](auto nesterov) {
          with_flag(fresh, [&](auto fresh_flag) { run(std::true_type{}, nesterov, fresh_flag, decay); });
        });
      });
    }
  });
}

}  // namespace

FF_REGISTER_KERNEL(sgd_update, CPU, dispatch::kFloatingTypes, &sgd_update_cpu);

}  // namespace ff
