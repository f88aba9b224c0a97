// foreach_norm / foreach_scale_: argument checks and dispatch, then the CPU kernels.
#include "ops/optim/foreach.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "framework/dispatch/registry.h"
#include "ops/common/cpu_loops.h"
#include "ops/optim/optim_common.h"

namespace ff {

FF_REGISTER_OP(foreach_norm, dispatch::kNoFlags);
FF_REGISTER_OP(foreach_scale_, dispatch::kNoFlags);

namespace {
void check_foreach_list(const char* op, const std::vector<Tensor>& tensors) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    FF_CHECK(tensors[i].defined(), "{}: tensor {} is undefined", op, i);
    FF_CHECK(is_floating(tensors[i].dtype()), "{}: tensor {} is {}; floating types only", op, i,
             tensors[i].describe());
    FF_CHECK(tensors[i].device() == tensors[0].device() && tensors[i].dtype() == tensors[0].dtype(),
             "{}: all tensors must share device and dtype; tensor 0 is {}, tensor {} is {}", op,
             tensors[0].describe(), i, tensors[i].describe());
  }
}
}  // namespace

Tensor foreach_norm(const std::vector<Tensor>& tensors, double norm_type) {
  FF_CHECK(norm_type > 0.0, "foreach_norm: norm_type must be > 0 (or inf), got {}", norm_type);
  check_foreach_list("foreach_norm", tensors);
  const Device device = tensors.empty() ? Device() : tensors[0].device();
  Tensor out = Tensor::empty({static_cast<int64_t>(tensors.size())}, DType::Float64, device);
  if (tensors.empty()) return out;
  static const dispatch::OpHandle handle("foreach_norm");
  handle.kernel<ForeachNormKernel>(device.type, tensors[0].dtype())(out, tensors, norm_type);
  return out;
}

void foreach_scale_(const std::vector<Tensor>& tensors, double scale) {
  check_foreach_list("foreach_scale_", tensors);
  if (tensors.empty()) return;
  optim_detail::check_param_list("foreach_scale_", tensors);  // rejects expanded (stride 0) views
  static const dispatch::OpHandle handle("foreach_scale_");
  handle.kernel<ForeachScaleKernel>(tensors[0].device().type, tensors[0].dtype())(tensors, scale);
  for (const Tensor& t : tensors) t.storage()->bump_version();
}

// ---- CPU kernels ------------------------------------------------------------------------------------
namespace {

// Fixed-size blocks reduced in parallel and then combined in block order, so the result does
// not depend on the thread count.
constexpr int64_t kNormBlock = 16384;

template <typename T>
double tensor_norm_cpu(const Tensor& t, double p) {
  const Tensor dense = t.is_contiguous() ? t : t.detach().contiguous();
  const T* x = dense.data<T>();
  const int64_t n = dense.numel();
  const int64_t blocks = (n + kNormBlock - 1) / kNormBlock;
  const bool is_inf = std::isinf(p), is_two = p == 2.0, is_one = p == 1.0;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t begin = b * kNormBlock, end = std::min(n, begin + kNormBlock);
      double acc = 0.0;
      if (is_inf) {
        for (int64_t i = begin; i < end; ++i) {
          const double a = std::fabs(static_cast<double>(static_cast<acc_t<T>>(x[i])));
          if (a > acc || a != a) acc = a;  // NaN propagates
          if (acc != acc) break;
        }
      } else if (is_two) {
        for (int64_t i = begin; i < end; ++i) {
          const double v = static_cast<double>(static_cast<acc_t<T>>(x[i]));
          acc += v * v;
        }
      } else if (is_one) {
        for (int64_t i = begin; i < end; ++i) acc += std::fabs(static_cast<double>(static_cast<acc_t<T>>(x[i])));
      } else {
        for (int64_t i = begin; i < end; ++i) {
          acc += std::pow(std::fabs(static_cast<double>(static_cast<acc_t<T>>(x[i]))), p);
        }
      }
      partial[static_cast<size_t>(b)] = acc;
    }
  });
  double total = 0.0;
  for (double v : partial) {
    if (is_inf) {
      if (v > total || v != v) total = v;
    } else {
      total += v;
    }
  }
  if (is_inf || is_one) return total;
  return is_two ? std::sqrt(total) : std::pow(total, 1.0 / p);
}

void foreach_norm_cpu(const Tensor& out, const std::vector<Tensor>& tensors, double norm_type) {
  double* o = out.data<double>();
  FF_DISPATCH_FLOATING(tensors[0].dtype(), "foreach_norm", [&] {
    for (size_t i = 0; i < tensors.size(); ++i) o[i] = tensor_norm_cpu<scalar_t>(tensors[i], norm_type);
  });
}

void foreach_scale_cpu(const std::vector<Tensor>& tensors, double scale) {
  FF_DISPATCH_FLOATING(tensors[0].dtype(), "foreach_scale_", [&] {
    using A = acc_t<scalar_t>;
    const A s = static_cast<A>(scale);
    for (const Tensor& t : tensors) {
      cpu::cpu_map<scalar_t, scalar_t>(t, [s](scalar_t x) { return static_cast<scalar_t>(static_cast<A>(x) * s); }, {t});
    }
  });
}

}  // namespace

FF_REGISTER_KERNEL(foreach_norm, CPU, dispatch::kFloatingTypes, &foreach_norm_cpu);
FF_REGISTER_KERNEL(foreach_scale_, CPU, dispatch::kFloatingTypes, &foreach_scale_cpu);

}  // namespace ff
