#include "framework/core/tensor.h"

#include <algorithm>
#include <numeric>
#include <ostream>

#include "framework/autograd/autograd.h"
#include "framework/dispatch/registry.h"
#include "framework/graph/tracer.h"
#include "ops/elementwise/binary.h"
#include "ops/elementwise/unary.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/fill.h"

namespace ff {

// View ops: pure metadata, identical on every device; their backward is another view or a
// reduction. They are registered so the self-test demands a gradient check for each.
FF_REGISTER_OP(reshape, dispatch::kDifferentiable | dispatch::kOnnxExportable | dispatch::kDeviceAgnostic);
FF_REGISTER_OP(slice, dispatch::kDifferentiable | dispatch::kOnnxExportable | dispatch::kDeviceAgnostic);
FF_REGISTER_OP(select, dispatch::kDifferentiable | dispatch::kOnnxExportable | dispatch::kDeviceAgnostic);
FF_REGISTER_OP(permute, dispatch::kDifferentiable | dispatch::kOnnxExportable | dispatch::kDeviceAgnostic);
FF_REGISTER_OP(expand, dispatch::kDifferentiable | dispatch::kOnnxExportable | dispatch::kDeviceAgnostic);
FF_REGISTER_OP(contiguous, dispatch::kDifferentiable | dispatch::kDeviceAgnostic);
FF_REGISTER_OP(to_device, dispatch::kDifferentiable | dispatch::kDeviceAgnostic);

TensorImpl::TensorImpl() = default;
TensorImpl::~TensorImpl() = default;

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) FF_CHECK(d >= 0, "empty: negative dimension in shape {}", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  impl->sizes = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Allocator& allocator, Device device) {
  for (int64_t d : shape) FF_CHECK(d >= 0, "empty: negative dimension in shape {}", shape_str(shape));
  const size_t nbytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(allocator.allocate(nbytes, device.index), nbytes, device);
  impl->sizes = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, Shape sizes, Strides strides, int64_t offset,
                            DType dtype) {
  FF_ASSERT(sizes.size() == strides.size(), "sizes {} and strides {} differ in rank", shape_str(sizes),
            shape_str(strides));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->sizes = std::move(sizes);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

void check_defined(const Tensor& t, const char* op, const char* arg) {
  FF_CHECK(t.defined(), "{}: argument '{}' is an undefined tensor", op, arg);
}

void check_same_device(const std::vector<Tensor>& ts, const char* op) {
  for (size_t i = 1; i < ts.size(); ++i) {
    if (!ts[i].defined() || !ts[0].defined()) continue;
    FF_CHECK(ts[i].device() == ts[0].device(), "{}: tensors on different devices: {} and {}", op,
             ts[0].describe(), ts[i].describe());
  }
}

// ---- metadata ---------------------------------------------------------------------------------------
namespace {
const TensorImpl& checked(const Tensor& t) {
  FF_CHECK(t.defined(), "operation on an undefined tensor");
  return *t.impl();
}
}  // namespace

const Shape& Tensor::sizes() const { return checked(*this).sizes; }
const Strides& Tensor::strides() const { return checked(*this).strides; }
// normalize_dim accepts dim 0/-1 on a scalar (for reductions); here that would read past the end.
int64_t Tensor::size(int64_t d) const {
  FF_CHECK(dim() > 0, "size({}): tensor {} has no dimensions", d, describe());
  return sizes()[normalize_dim(d, dim(), "size")];
}
int64_t Tensor::stride(int64_t d) const {
  FF_CHECK(dim() > 0, "stride({}): tensor {} has no dimensions", d, describe());
  return strides()[normalize_dim(d, dim(), "stride")];
}
int64_t Tensor::storage_offset() const { return checked(*this).offset; }
DType Tensor::dtype() const { return checked(*this).dtype; }
Device Tensor::device() const { return checked(*this).storage->device(); }
const std::shared_ptr<Storage>& Tensor::storage() const { return checked(*this).storage; }

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no element to be out of place
  const auto& sz = sizes();
  const auto& st = strides();
  int64_t expected = 1;
  for (size_t i = sz.size(); i-- > 0;) {
    if (sz[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= sz[i];
  }
  return true;
}

std::string Tensor::describe() const {
  if (!defined()) return "(undefined tensor)";
  return fmt::format("{}{} on {}", dtype_name(dtype()), shape_str(sizes()), device().str());
}

void* Tensor::raw_data() const {
  const TensorImpl& i = checked(*this);
  return static_cast<char*>(i.storage->data()) + i.offset * static_cast<int64_t>(dtype_size(i.dtype));
}

template <typename T>
T Tensor::item() const {
  FF_CHECK(numel() == 1, "item(): tensor {} has {} elements, expected exactly one", describe(), numel());
  Tensor host = to(Device()).to(dtype_of<T>).contiguous();
  return *host.data<T>();
}
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int64_t Tensor::item<int64_t>() const;
template int32_t Tensor::item<int32_t>() const;
template bool Tensor::item<bool>() const;

// ---- views ---------------------------------------------------------------------------------------
namespace {

Tensor make_view(const Tensor& base, Shape sizes, Strides strides, int64_t offset) {
  return Tensor::from_storage(base.storage(), std::move(sizes), std::move(strides), offset, base.dtype());
}

// Resolves a single -1 and checks the element count.
Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Shape& from) {
  Shape out = shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      FF_CHECK(infer < 0, "{}: only one dimension can be -1 in {}", op, shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      FF_CHECK(out[i] >= 0, "{}: invalid dimension {} in {}", op, out[i], shape_str(shape));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    FF_CHECK(known != 0 && numel % known == 0, "{}: cannot reshape {} ({} elements) into {}", op,
             shape_str(from), numel, shape_str(shape));
    out[infer] = numel / known;
  }
  FF_CHECK(shape_numel(out) == numel, "{}: cannot reshape {} ({} elements) into {}", op, shape_str(from), numel,
           shape_str(shape));
  return out;
}

// Strides for viewing (sizes, strides) as `shape` without copying, if possible.
bool compute_view_strides(const Shape& sizes, const Strides& strides, const Shape& shape, Strides* out) {
  // Walk groups of old dims that map onto groups of new dims with equal element counts; each
  // old group must be internally contiguous.
  out->assign(shape.size(), 0);
  if (shape_numel(sizes) == 0 || sizes.empty()) {
    *out = contiguous_strides(shape);
    return true;
  }
  int64_t new_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= sizes[d];
    if (d == 0 || (sizes[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (new_d >= 0 && (view_numel < tensor_numel || shape[new_d] == 1)) {
        (*out)[new_d] = view_numel * chunk_base_stride;
        view_numel *= shape[new_d];
        --new_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return new_d == -1;
}

void record_reshape(const Tensor& in, const Tensor& out) {
  const Shape in_shape = in.sizes();
  autograd::record("reshape", {in}, {out}, {}, [in_shape](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    return {ctx.grad_outputs[0].reshape(in_shape)};
  });
}

}  // namespace

Tensor Tensor::view(const Shape& shape) const {
  graph::OpTrace trace("reshape");
  const Shape target = infer_shape(shape, numel(), "view", sizes());
  Strides st;
  FF_CHECK(compute_view_strides(sizes(), strides(), target, &st),
           "view: tensor {} with strides {} cannot be viewed as {} without a copy; use reshape()", describe(),
           shape_str(strides()), shape_str(target));
  Tensor out = make_view(*this, target, st, storage_offset());
  record_reshape(*this, out);
  if (trace.recording()) trace.record({*this}, {out}, {{"shape", out.sizes()}, {"input_shape", sizes()}});
  return out;
}

Tensor Tensor::reshape(const Shape& shape) const {
  graph::OpTrace trace("reshape");
  const Shape target = infer_shape(shape, numel(), "reshape", sizes());
  Strides st;
  Tensor out;
  if (compute_view_strides(sizes(), strides(), target, &st)) {
    out = make_view(*this, target, st, storage_offset());
    record_reshape(*this, out);
  } else {
    out = contiguous().view(target);
  }
  if (trace.recording()) trace.record({*this}, {out}, {{"shape", out.sizes()}, {"input_shape", sizes()}});
  return out;
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  graph::OpTrace trace("slice");
  FF_CHECK(dim() > 0, "slice: cannot slice the zero-dimensional tensor {}", describe());
  d = normalize_dim(d, dim(), "slice");
  FF_CHECK(step > 0, "slice: step must be positive, got {}", step);
  const int64_t n = sizes()[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape sz = sizes();
  Strides st = strides();
  sz[d] = (end - start + step - 1) / step;
  st[d] *= step;
  Tensor out = make_view(*this, sz, st, storage_offset() + start * strides()[d]);
  const Shape in_shape = sizes();
  autograd::record("slice", {*this}, {out}, {},
                   [in_shape, d, start, end, step](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
                     const Tensor& g = ctx.grad_outputs[0];
                     Tensor grad_in = zeros(in_shape, g.dtype(), g.device());
                     copy_into(grad_in.slice(d, start, end, step), g);
                     return {grad_in};
                   });
  if (trace.recording()) trace.record({*this}, {out}, {{"dim", d}, {"start", start}, {"end", end}, {"step", step}});
  return out;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  FF_CHECK(dim() > 0, "narrow: cannot narrow the zero-dimensional tensor {}", describe());
  d = normalize_dim(d, dim(), "narrow");
  FF_CHECK(start >= 0 && length >= 0 && start + length <= sizes()[d],
           "narrow: range [{}, {}) out of bounds for dim {} of size {} in {}", start, start + length, d,
           sizes()[d], describe());
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  graph::OpTrace trace("select");
  FF_CHECK(dim() > 0, "select: cannot select from the zero-dimensional tensor {}", describe());
  d = normalize_dim(d, dim(), "select");
  const int64_t n = sizes()[d];
  FF_CHECK(index >= -n && index < n, "select: index {} out of range for dim {} of size {} in {}", index, d, n,
           describe());
  if (index < 0) index += n;
  Shape sz = sizes();
  Strides st = strides();
  sz.erase(sz.begin() + d);
  st.erase(st.begin() + d);
  Tensor out = make_view(*this, sz, st, storage_offset() + index * strides()[d]);
  const Shape in_shape = sizes();
  autograd::record("select", {*this}, {out}, {},
                   [in_shape, d, index](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
                     const Tensor& g = ctx.grad_outputs[0];
                     Tensor grad_in = zeros(in_shape, g.dtype(), g.device());
                     copy_into(grad_in.select(d, index), g);
                     return {grad_in};
                   });
  if (trace.recording()) trace.record({*this}, {out}, {{"dim", d}, {"index", index}});
  return out;
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  graph::OpTrace trace("permute");
  const int64_t n = dim();
  FF_CHECK(static_cast<int64_t>(dims.size()) == n, "permute: {} dims given for tensor {}", dims.size(), describe());
  std::vector<int64_t> perm(n);
  std::vector<bool> used(n, false);
  Shape sz(n);
  Strides st(n);
  for (int64_t i = 0; i < n; ++i) {
    perm[i] = normalize_dim(dims[i], n, "permute");
    FF_CHECK(!used[perm[i]], "permute: dim {} repeated in [{}]", perm[i], fmt::join(dims, ", "));
    used[perm[i]] = true;
    sz[i] = sizes()[perm[i]];
    st[i] = strides()[perm[i]];
  }
  Tensor out = make_view(*this, sz, st, storage_offset());
  std::vector<int64_t> inverse(n);
  for (int64_t i = 0; i < n; ++i) inverse[perm[i]] = i;
  autograd::record("permute", {*this}, {out}, {}, [inverse](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    return {ctx.grad_outputs[0].permute(inverse)};
  });
  if (trace.recording()) trace.record({*this}, {out}, {{"perm", perm}});
  return out;
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  const int64_t n = dim();
  d0 = normalize_dim(d0, n, "transpose");
  d1 = normalize_dim(d1, n, "transpose");
  if (n == 0) return *this;  // dims 0/-1 of a scalar: nothing to swap
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[d0], perm[d1]);
  return permute(perm);
}

Tensor Tensor::expand(const Shape& shape) const {
  graph::OpTrace trace("expand");
  const int64_t n = static_cast<int64_t>(shape.size());
  FF_CHECK(n >= dim(), "expand: target {} has fewer dims than {}", shape_str(shape), describe());
  Shape sz(n);
  Strides st(n, 0);
  const int64_t lead = n - dim();
  for (int64_t i = 0; i < n; ++i) {
    if (i < lead) {
      FF_CHECK(shape[i] >= 0, "expand: invalid size {} in {}", shape[i], shape_str(shape));
      sz[i] = shape[i];
      continue;
    }
    const int64_t have = sizes()[i - lead];
    const int64_t want = shape[i] == -1 ? have : shape[i];
    FF_CHECK(want >= 0, "expand: invalid size {} in {} for {}", shape[i], shape_str(shape), describe());
    FF_CHECK(have == want || have == 1, "expand: cannot expand {} to {} (dim {}: {} vs {})", describe(),
             shape_str(shape), i, have, want);
    sz[i] = want;
    st[i] = have == want ? strides()[i - lead] : 0;
  }
  if (sz == sizes()) return *this;
  Tensor out = make_view(*this, sz, st, storage_offset());
  const Shape in_shape = sizes();
  autograd::record("expand", {*this}, {out}, {}, [in_shape](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    return {sum_to(ctx.grad_outputs[0], in_shape)};
  });
  if (trace.recording()) trace.record({*this}, {out}, {{"shape", out.sizes()}, {"input_shape", sizes()}});
  return out;
}

Tensor Tensor::squeeze(int64_t d) const {
  d = normalize_dim(d, dim(), "squeeze");
  if (dim() == 0 || sizes()[d] != 1) return *this;
  Shape sz = sizes();
  sz.erase(sz.begin() + d);
  return reshape(sz);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = normalize_dim(d, dim() + 1, "unsqueeze");
  Shape sz = sizes();
  sz.insert(sz.begin() + d, 1);
  return reshape(sz);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  start_dim = normalize_dim(start_dim, dim(), "flatten");
  end_dim = normalize_dim(end_dim, dim(), "flatten");
  FF_CHECK(start_dim <= end_dim, "flatten: start_dim {} after end_dim {}", start_dim, end_dim);
  Shape sz(sizes().begin(), sizes().begin() + start_dim);
  int64_t flat = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) flat *= sizes()[i];
  sz.push_back(flat);
  sz.insert(sz.end(), sizes().begin() + end_dim + 1, sizes().end());
  return reshape(sz);
}

// ---- copies -------------------------------------------------------------------------------------
Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(sizes(), dtype(), device());
  copy_into(out, *this);
  autograd::record("contiguous", {*this}, {out}, {}, [](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    return {ctx.grad_outputs[0]};
  });
  graph::trace_alias(*this, out);  // a copy is the same graph value
  return out;
}

Tensor Tensor::to(DType t) const { return cast(*this, t); }

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor out = Tensor::empty(sizes(), dtype(), d);
  copy_into(out, *this);
  const Device from = device();
  autograd::record("to_device", {*this}, {out}, {}, [from](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    return {ctx.grad_outputs[0].to(from)};
  });
  graph::trace_alias(*this, out);  // a device copy is the same graph value
  return out;
}

// ---- in-place ----------------------------------------------------------------------------------------
namespace {
void check_inplace_allowed(const Tensor& t, const char* op) {
  FF_CHECK(!(autograd::grad_mode_enabled() && t.requires_grad()),
           "{}: in-place write to {} which requires grad; wrap it in autograd::NoGradGuard", op, t.describe());
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  check_inplace_allowed(*this, "fill_");
  static const dispatch::OpHandle op("fill");
  op.kernel<FillKernel>(device().type, dtype())(*this, value);
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace_allowed(*this, "copy_");
  copy_into(*this, src);
  storage()->bump_version();
  return *this;
}

// ---- autograd ----------------------------------------------------------------------------------------
bool Tensor::requires_grad() const { return impl()->autograd && impl()->autograd->requires_grad; }

Tensor& Tensor::set_requires_grad(bool requires) {
  FF_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can be marked; {} was produced by {}", describe(),
           grad_fn()->name());
  FF_CHECK(!requires || is_floating(dtype()), "set_requires_grad: only floating tensors can require grad, got {}",
           describe());
  autograd::meta(*this).requires_grad = requires;
  return *this;
}

bool Tensor::is_leaf() const { return !impl()->autograd || !impl()->autograd->grad_fn; }

Tensor Tensor::grad() const { return impl()->autograd ? impl()->autograd->grad : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
  if (g.defined()) {
    FF_CHECK(g.sizes() == sizes(), "set_grad: gradient {} does not match tensor {}", g.describe(), describe());
  }
  autograd::meta(*this).grad = g;
}

void Tensor::zero_grad() {
  if (impl()->autograd) impl()->autograd->grad = Tensor();
}

std::shared_ptr<autograd::Node> Tensor::grad_fn() const {
  return impl()->autograd ? impl()->autograd->grad_fn : nullptr;
}

Tensor Tensor::detach() const {
  Tensor out = Tensor::from_storage(storage(), sizes(), strides(), storage_offset(), dtype());
  graph::trace_alias(*this, out);  // same value, without autograd history
  return out;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  Tensor g = grad;
  if (!g.defined()) {
    FF_CHECK(numel() == 1, "backward: called without a gradient on {}, which is not a scalar", describe());
    g = ones(sizes(), dtype(), device());
  }
  autograd::backward({*this}, {g}, retain_graph);
}

void Tensor::register_grad_ready_hook(GradReadyHook hook) {
  FF_CHECK(is_leaf() && requires_grad(), "register_grad_ready_hook: {} is not a leaf that requires grad",
           describe());
  autograd::meta(*this).grad_ready_hooks.push_back(std::move(hook));
}

// ---- printing ------------------------------------------------------------------------------------
namespace {
void print_rec(std::string& s, const std::vector<double>& v, const Shape& sz, size_t d, int64_t base, int64_t stride,
               int64_t max_per_dim, bool integral) {
  if (sz.empty()) {
    s += integral ? fmt::format("{}", static_cast<int64_t>(v[0])) : fmt::format("{:.6g}", v[0]);
    return;
  }
  const int64_t n = sz[d];
  const int64_t inner = stride / n;
  s += "[";
  for (int64_t i = 0; i < n; ++i) {
    if (n > max_per_dim && i == max_per_dim / 2) {
      s += "..., ";
      i = n - max_per_dim / 2;
    }
    if (d + 1 == sz.size()) {
      const double x = v[base + i];
      s += integral ? fmt::format("{}", static_cast<int64_t>(x)) : fmt::format("{:.6g}", x);
    } else {
      print_rec(s, v, sz, d + 1, base + i * inner, inner, max_per_dim, integral);
    }
    if (i + 1 < n) s += d + 1 == sz.size() ? ", " : ",\n ";
  }
  s += "]";
}
}  // namespace

std::string Tensor::str(int64_t max_per_dim) const {
  if (!defined()) return "tensor(undefined)";
  std::string s = fmt::format("tensor({}", describe());
  if (requires_grad()) s += grad_fn() ? fmt::format(", grad_fn={}", grad_fn()->name()) : ", requires_grad";
  s += ")\n";
  if (numel() == 0) return s + "[]";
  const std::vector<double> v = to_vector<double>(detach());
  print_rec(s, v, sizes(), 0, 0, numel(), std::max<int64_t>(max_per_dim, 2), is_integral(dtype()));
  return s;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---- operators ------------------------------------------------------------------------------------
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator-(const Tensor& a, double b) { return add(a, -b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator/(const Tensor& a, double b) { return mul(a, 1.0 / b); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }

}  // namespace ff
