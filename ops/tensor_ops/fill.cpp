#include "ops/tensor_ops/fill.h"

#include <cmath>

#include "framework/dispatch/registry.h"
#include "ops/common/cpu_loops.h"
#include "ops/tensor_ops/copy.h"

namespace ff {

FF_REGISTER_OP(fill, dispatch::kNoFlags);
FF_REGISTER_OP(arange, dispatch::kNoFlags);

Tensor empty(const Shape& shape, DType dtype, Device device) { return Tensor::empty(shape, dtype, device); }

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  static const dispatch::OpHandle op("fill");
  op.kernel<FillKernel>(device.type, dtype)(t, value);
  return t;
}
Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  FF_CHECK(step != 0.0, "arange: step must be nonzero");
  FF_CHECK(std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
           "arange: start {}, end {} and step {} must be finite", start, end, step);
  const double n = std::ceil((end - start) / step);
  Tensor t = Tensor::empty({static_cast<int64_t>(std::max(0.0, n))}, dtype, device);
  static const dispatch::OpHandle op("arange");
  op.kernel<ArangeKernel>(device.type, dtype)(t, start, step);
  return t;
}
Tensor arange(int64_t end, DType dtype, Device device) {
  return arange(0.0, static_cast<double>(end), 1.0, dtype, device);
}

Tensor empty_like(const Tensor& t) { return Tensor::empty(t.sizes(), t.dtype(), t.device()); }
Tensor zeros_like(const Tensor& t) { return zeros(t.sizes(), t.dtype(), t.device()); }
Tensor ones_like(const Tensor& t) { return ones(t.sizes(), t.dtype(), t.device()); }
Tensor full_like(const Tensor& t, double value) { return full(t.sizes(), value, t.dtype(), t.device()); }

namespace {
template <typename T>
Tensor tensor_from_impl(const std::vector<T>& values, const Shape& shape, Device device) {
  FF_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
           "tensor_from: {} values do not fill shape {} ({} elements)", values.size(), shape_str(shape),
           shape_numel(shape));
  Tensor host = Tensor::empty(shape, dtype_of<T>, Device());
  std::copy(values.begin(), values.end(), host.data<T>());
  return device.is_cpu() ? host : host.to(device);
}
}  // namespace

Tensor tensor_from(const std::vector<float>& v, const Shape& s, Device d) { return tensor_from_impl(v, s, d); }
Tensor tensor_from(const std::vector<double>& v, const Shape& s, Device d) { return tensor_from_impl(v, s, d); }
Tensor tensor_from(const std::vector<int64_t>& v, const Shape& s, Device d) { return tensor_from_impl(v, s, d); }

template <typename T>
std::vector<T> to_vector(const Tensor& t) {
  check_defined(t, "to_vector", "t");
  Tensor host = t.to(Device()).to(dtype_of<T>).contiguous();
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}
template std::vector<float> to_vector<float>(const Tensor&);
template std::vector<double> to_vector<double>(const Tensor&);
template std::vector<int64_t> to_vector<int64_t>(const Tensor&);
template std::vector<int32_t> to_vector<int32_t>(const Tensor&);
template std::vector<uint8_t> to_vector<uint8_t>(const Tensor&);
template std::vector<bool> to_vector<bool>(const Tensor&);

// ---- CPU kernels ------------------------------------------------------------------------------
namespace {
void fill_cpu(const Tensor& out, double value) {
  FF_DISPATCH_ALL(out.dtype(), "fill", [&] {
    const scalar_t v = static_cast<scalar_t>(static_cast<acc_t<scalar_t>>(value));
    cpu::cpu_map<scalar_t>(out, [v]() { return v; }, {});
  });
}

void arange_cpu(const Tensor& out, double start, double step) {
  FF_DISPATCH_ALL(out.dtype(), "arange", [&] {
    auto* p = out.data<scalar_t>();
    const int64_t n = out.numel();
    for (int64_t i = 0; i < n; ++i) {
      p[i] = static_cast<scalar_t>(static_cast<acc_t<scalar_t>>(start + static_cast<double>(i) * step));
    }
  });
}
}  // namespace

FF_REGISTER_KERNEL(fill, CPU, dispatch::kAllTypes, &fill_cpu);
FF_REGISTER_KERNEL(arange, CPU, dispatch::kAllTypes, &arange_cpu);

}  // namespace ff
