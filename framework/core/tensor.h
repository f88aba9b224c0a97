// ff::Tensor: a strided view over a shared, device-tagged Storage, with autograd state.
//
// A Tensor is a cheap handle (shared_ptr to TensorImpl). Copying a Tensor aliases it;
// use clone() for a deep copy. Views (view/reshape/slice/transpose/permute/expand/...)
// share the storage and record autograd nodes, so gradients flow through them.
//
// Shapes and strides are in elements; storage_offset() is the element offset of
// element [0,...,0] into the storage.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/device.h"
#include "framework/core/dtype.h"
#include "framework/core/shape.h"
#include "framework/core/storage.h"

namespace ff {

class Tensor;
namespace autograd {
class Node;
struct AutogradMeta;
}  // namespace autograd

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape sizes;
  Strides strides;
  int64_t offset = 0;
  DType dtype = DType::Float32;
  std::unique_ptr<autograd::AutogradMeta> autograd;  // null until autograd touches the tensor

  TensorImpl();
  ~TensorImpl();
};

// Called with the accumulated gradient of a leaf once a backward pass has finished
// writing it (used by data-parallel training to start the all-reduce early).
using GradReadyHook = std::function<void(const Tensor& param)>;

class Tensor {
 public:
  Tensor() = default;  // undefined tensor
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Allocates an uninitialised contiguous tensor.
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device());
  // The same, with the bytes from `allocator` (asked for device.index) instead of the device
  // backend's allocator; the tensor is tagged `device`. E.g. page-locked host memory:
  //   Tensor::empty({B, 3, 112, 112}, DType::Float32, ff::cuda::pinned_allocator())  // a CPU tensor
  static Tensor empty(const Shape& shape, DType dtype, Allocator& allocator, Device device = Device());
  // Wraps existing storage as a strided view (no copy, no autograd).
  static Tensor from_storage(std::shared_ptr<Storage> storage, Shape sizes, Strides strides,
                             int64_t offset, DType dtype);

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  // ---- metadata -------------------------------------------------------------------------
  const Shape& sizes() const;
  const Shape& shape() const { return sizes(); }
  int64_t size(int64_t dim) const;  // negative dims count from the end
  const Strides& strides() const;
  int64_t stride(int64_t dim) const;
  int64_t dim() const { return static_cast<int64_t>(sizes().size()); }
  int64_t numel() const { return shape_numel(sizes()); }
  int64_t storage_offset() const;
  DType dtype() const;
  Device device() const;
  size_t element_size() const { return dtype_size(dtype()); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const;
  std::string describe() const;  // "float32[2, 3] on cpu": used in error messages

  // ---- raw data ---------------------------------------------------------------------------
  // Pointer to element [0,...,0]. The typed version checks that T matches dtype().
  void* raw_data() const;
  template <typename T>
  T* data() const {
    FF_CHECK(dtype_of<T> == dtype(), "data<{}>() called on a {} tensor", dtype_name(dtype_of<T>),
             dtype_name(dtype()));
    return static_cast<T*>(raw_data());
  }
  // Value of a one-element tensor, converted to T (copies from the device if needed).
  template <typename T>
  T item() const;

  // ---- views (differentiable, share storage) -----------------------------------------------
  Tensor view(const Shape& shape) const;     // needs compatible strides; -1 infers one dim
  Tensor reshape(const Shape& shape) const;  // view when possible, otherwise a copy
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops `dim`
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor expand(const Shape& shape) const;  // -1 keeps a dim; size-1 dims broadcast with stride 0
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;

  // ---- copies and conversions (differentiable) ---------------------------------------------
  Tensor contiguous() const;  // returns *this when already contiguous
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;

  // ---- in-place (not recorded by autograd; refused on tensors that need grad) -------------
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);  // broadcasts src, converts dtype and device

  // ---- autograd -----------------------------------------------------------------------------
  bool requires_grad() const;
  Tensor& set_requires_grad(bool requires = true);  // only on leaves
  bool is_leaf() const;
  Tensor grad() const;  // undefined until a backward pass reaches this leaf
  void set_grad(const Tensor& g);
  void zero_grad();     // drops the gradient (undefined), like set_to_none
  std::shared_ptr<autograd::Node> grad_fn() const;
  Tensor detach() const;  // shares storage, no autograd history
  // Backward from this tensor. Without `grad`, the tensor must have one element.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  void register_grad_ready_hook(GradReadyHook hook);  // leaves only
  uint64_t version() const { return storage()->version(); }

  // ---- printing -----------------------------------------------------------------------------
  std::string str(int64_t max_elements_per_dim = 6) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Arithmetic operators forward to the ops in ops/elementwise.
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Throws (naming `op`) unless t is defined.
void check_defined(const Tensor& t, const char* op, const char* arg);
// Throws unless all tensors live on the same device, naming each.
void check_same_device(const std::vector<Tensor>& ts, const char* op);

}  // namespace ff
