// adamw_update: argument checks and dispatch, then the CPU kernel.
#include "ops/optim/adamw_update.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "framework/dispatch/registry.h"
#include "ops/common/cpu_loops.h"

namespace ff {

FF_REGISTER_OP(adamw_update, dispatch::kNoFlags);

void adamw_update_(const AdamWUpdateLists& lists, const AdamWUpdateHyper& hyper) {
  constexpr const char* op = "adamw_update";
  FF_CHECK(std::isfinite(hyper.lr) && hyper.lr >= 0.0, "{}: invalid learning rate {}", op, hyper.lr);
  FF_CHECK(hyper.beta1 >= 0.0 && hyper.beta1 < 1.0 && hyper.beta2 >= 0.0 && hyper.beta2 < 1.0,
           "{}: betas must lie in [0, 1), got ({}, {})", op, hyper.beta1, hyper.beta2);
  FF_CHECK(hyper.eps >= 0.0 && hyper.weight_decay >= 0.0, "{}: eps {} and weight_decay {} must be >= 0", op,
           hyper.eps, hyper.weight_decay);
  const auto& params = lists.params;
  if (params.empty()) return;
  optim_detail::check_param_list(op, params);
  const DType dtype = params[0].dtype(), state = optimizer_state_dtype(dtype);
  optim_detail::check_list_matches_params(op, "grads", lists.grads, params, dtype);
  optim_detail::check_list_matches_params(op, "exp_avgs", lists.exp_avgs, params, state);
  optim_detail::check_list_matches_params(op, "exp_avg_sqs", lists.exp_avg_sqs, params, state);
  if (hyper.amsgrad) optim_detail::check_list_matches_params(op, "max_exp_avg_sqs", lists.max_exp_avg_sqs, params, state);
  FF_CHECK(lists.steps.size() == params.size(), "{}: {} step counts for {} parameters", op, lists.steps.size(),
           params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    FF_CHECK(lists.steps[i] >= 1, "{}: step count of parameter {} is {}, expected >= 1", op, i, lists.steps[i]);
  }
  static const dispatch::OpHandle handle("adamw_update");
  handle.kernel<AdamWUpdateKernel>(params[0].device().type, dtype)(lists, hyper);
  for (size_t i = 0; i < params.size(); ++i) {
    params[i].storage()->bump_version();
    lists.exp_avgs[i].storage()->bump_version();
    lists.exp_avg_sqs[i].storage()->bump_version();
    if (hyper.amsgrad) lists.max_exp_avg_sqs[i].storage()->bump_version();
  }
}

// ---- CPU kernel ------------------------------------------------------------------------------------
namespace {

// kAmsgrad is a template flag so the inner loop is branch-free; maximize is a sign on the grad.
template <typename P, bool kAmsgrad>
void adamw_update_one(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                      const Tensor* max_exp_avg_sq, int64_t step, const AdamWUpdateHyper& h) {
  using A = acc_t<P>;  // also the moments' element type
  // Per-tensor scalars in double, rounded once to the compute type.
  const double bias_correction1 = 1.0 - std::pow(h.beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(h.beta2, static_cast<double>(step));
  const A decay = static_cast<A>(1.0 - h.lr * h.weight_decay);
  const A step_size = static_cast<A>(h.lr / bias_correction1);
  const A bias_correction2_sqrt = static_cast<A>(std::sqrt(bias_correction2));
  const A one_minus_beta1 = static_cast<A>(1.0 - h.beta1);
  const A beta2 = static_cast<A>(h.beta2), one_minus_beta2 = static_cast<A>(1.0 - h.beta2);
  const A eps = static_cast<A>(h.eps);
  const A sign = h.maximize ? A(-1) : A(1);

  P* p = param.data<P>();
  const P* g = grad.data<P>();
  A* m = exp_avg.data<A>();
  A* v = exp_avg_sq.data<A>();
  A* vmax = kAmsgrad ? max_exp_avg_sq->data<A>() : nullptr;
  // Without amsgrad the vmax operand walks v's strides and is never touched.
  const std::array<Strides, 5> strides = {param.strides(), grad.strides(), exp_avg.strides(), exp_avg_sq.strides(),
                                          kAmsgrad ? max_exp_avg_sq->strides() : exp_avg_sq.strides()};
  auto update = [=](P& pv, P gv, A& mv, A& vv, A* vmaxv) {
    const A d = sign * static_cast<A>(gv);
    const A x = static_cast<A>(pv) * decay;
    const A m_next = mv + one_minus_beta1 * (d - mv);
    const A v_next = beta2 * vv + one_minus_beta2 * d * d;
    mv = m_next;
    vv = v_next;
    A second = v_next;
    if constexpr (kAmsgrad) {
      second = (v_next > *vmaxv || v_next != v_next) ? v_next : *vmaxv;  // NaN propagates, like torch.maximum
      *vmaxv = second;
    }
    // (std::sqrt keeps this loop scalar under the default -fmath-errno; the CPU kernel is the
    // reference, the multi-tensor CUDA kernel is the fast path.)
    const A denom = std::sqrt(second) / bias_correction2_sqrt + eps;
    pv = static_cast<P>(x - step_size * (m_next / denom));
  };
  cpu::cpu_strided_loop<5>(
      param.sizes(), strides, [&](const std::array<int64_t, 5>& off, int64_t n, const std::array<int64_t, 5>& s) {
        P* __restrict__ pp = p + off[0];
        const P* __restrict__ gp = g + off[1];
        A* __restrict__ mp = m + off[2];
        A* __restrict__ vp = v + off[3];
        A* __restrict__ xp = kAmsgrad ? vmax + off[4] : nullptr;
        const bool dense = s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1 && (!kAmsgrad || s[4] == 1);
        if (dense) {  // vectorises
          for (int64_t i = 0; i < n; ++i) update(pp[i], gp[i], mp[i], vp[i], kAmsgrad ? xp + i : nullptr);
        } else {
          for (int64_t i = 0; i < n; ++i) {
            update(pp[i * s[0]], gp[i * s[1]], mp[i * s[2]], vp[i * s[3]], kAmsgrad ? xp + i * s[4] : nullptr);
          }
        }
      });
}

void adamw_update_cpu(const AdamWUpdateLists& lists, const AdamWUpdateHyper& hyper) {
  FF_DISPATCH_FLOATING(lists.params[0].dtype(), "adamw_update", [&] {
    for (size_t i = 0; i < lists.params.size(); ++i) {
      if (hyper.amsgrad) {
        adamw_update_one<scalar_t, true>(lists.params[i], lists.grads[i], lists.exp_avgs[i], lists.exp_avg_sqs[i],
                                         &lists.max_exp_avg_sqs[i], lists.steps[i], hyper);
      } else {
        adamw_update_one<scalar_t, false>(lists.params[i], lists.grads[i], lists.exp_avgs[i], lists.exp_avg_sqs[i],
                                          nullptr, lists.steps[i], hyper);
      }
    }
  });
}

}  // namespace

FF_REGISTER_KERNEL(adamw_update, CPU, dispatch::kFloatingTypes, &adamw_update_cpu);

}  // namespace ff
