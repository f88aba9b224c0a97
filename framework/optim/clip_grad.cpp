#include "framework/optim/clip_grad.h"

#include <cmath>
#include <map>
#include <tuple>

#include "framework/autograd/autograd.h"
#include "ops/optim/foreach.h"
#include "ops/tensor_ops/fill.h"

namespace ff::optim {

namespace {

struct GradBucket {
  std::vector<size_t> param_indices;
  std::vector<Tensor> grads;
};

// Defined grads, bucketed by (device, dtype): one foreach op call per bucket.
std::vector<GradBucket> bucket_grads(const std::vector<Tensor>& params) {
  std::map<std::tuple<int, int, int>, GradBucket> buckets;
  for (size_t i = 0; i < params.size(); ++i) {
    FF_CHECK(params[i].defined(), "clip_grad_norm_: parameter {} is an undefined tensor", i);
    const Tensor g = params[i].grad();
    if (!g.defined()) continue;
    GradBucket& b = buckets[{static_cast<int>(g.device().type), g.device().index, static_cast<int>(g.dtype())}];
    b.param_indices.push_back(i);
    b.grads.push_back(g);
  }
  std::vector<GradBucket> out;
  for (auto& kv : buckets) out.push_back(std::move(kv.second));
  return out;
}

struct TotalNorm {
  double total = 0.0;
  int64_t first_nonfinite_param = -1;  // index into params
};

TotalNorm compute_total_norm(const std::vector<GradBucket>& buckets, double norm_type) {
  FF_CHECK(norm_type > 0.0, "clip_grad_norm_: norm_type must be > 0 or inf, got {}", norm_type);
  const bool is_inf = std::isinf(norm_type);
  TotalNorm result;
  double accumulated = 0.0;  // sum of norm_i^p, or the running max for inf
  bool saw_nan = false;
  for (const GradBucket& b : buckets) {
    const std::vector<double> norms = to_vector<double>(foreach_norm(b.grads, norm_type));
    for (size_t k = 0; k < norms.size(); ++k) {
      const double n = norms[k];
      const int64_t param = static_cast<int64_t>(b.param_indices[k]);
      if (!std::isfinite(n) &&
          (result.first_nonfinite_param < 0 || param < result.first_nonfinite_param)) {
        result.first_nonfinite_param = param;
      }
      if (std::isnan(n)) saw_nan = true;
      if (is_inf) {
        accumulated = std::max(accumulated, n);
      } else if (norm_type == 2.0) {
        accumulated += n * n;
      } else if (norm_type == 1.0) {
        accumulated += n;
      } else {
        accumulated += std::pow(n, norm_type);
      }
    }
  }
  if (saw_nan) {
    result.total = std::nan("");
  } else if (is_inf || norm_type == 1.0) {
    result.total = accumulated;
  } else {
    result.total = norm_type == 2.0 ? std::sqrt(accumulated) : std::pow(accumulated, 1.0 / norm_type);
  }
  return result;
}

}  // namespace

double grad_total_norm(const std::vector<Tensor>& params, double norm_type) {
  autograd::NoGradGuard no_grad;
  return compute_total_norm(bucket_grads(params), norm_type).total;
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  FF_CHECK(std::isfinite(max_norm) && max_norm >= 0.0, "clip_grad_norm_: max_norm must be finite and >= 0, got {}",
           max_norm);
  autograd::NoGradGuard no_grad;
  const auto buckets = bucket_grads(params);
  const TotalNorm norm = compute_total_norm(buckets, norm_type);
  if (error_if_nonfinite && !std::isfinite(norm.total)) {
    const std::string culprit =
        norm.first_nonfinite_param >= 0
            ? fmt::format("the first non-finite gradient belongs to parameter {} ({})", norm.first_nonfinite_param,
                          params[static_cast<size_t>(norm.first_nonfinite_param)].describe())
            : std::string("every per-parameter norm is finite, but combining them overflowed");
    FF_THROW(
        "clip_grad_norm_: the total norm of order {} of the gradients is non-finite ({}), so it cannot be clipped; "
        "{}. Set error_if_nonfinite = false to scale by the non-finite norm anyway",
        norm_type, norm.total, culprit);
  }
  // NaN propagates through the comparison below (coef stays NaN and the grads are scaled).
  double coef = max_norm / (norm.total + 1e-6);
  if (coef > 1.0) coef = 1.0;
  if (!(coef == 1.0)) {
    for (const GradBucket& b : buckets) foreach_scale_(b.grads, coef);
  }
  return norm.total;
}

}  // namespace ff::optim
