// Indexing ops: index_select, gather, scatter_add, one_hot. Forward and backward side by side;
// CPU kernels at the bottom. The ops check ranks, shapes and dtypes; the kernels check every
// index value (negative ones included) before touching memory.
#include "ops/index/index.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <optional>
#include <string>

#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "framework/dispatch/registry.h"
#include "framework/graph/tracer.h"
#include "ops/common/cpu_loops.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/fill.h"

namespace ff {

FF_REGISTER_OP(index_select, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(gather, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(scatter_add, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(one_hot, dispatch::kOnnxExportable);  // integer labels in: nothing to differentiate

namespace {

void check_index_tensor(const Tensor& index, const char* op, const char* arg) {
  check_defined(index, op, arg);
  FF_CHECK(index.dtype() == DType::Int64 || index.dtype() == DType::Int32,
           "{}: {} must be an int32 or int64 tensor, got {}", op, arg, index.describe());
}

// gather/scatter_add: `index` has x's rank and fits inside x in every dim except `dim`.
void check_index_fits(const Tensor& x, const Tensor& index, int64_t dim, const char* op) {
  FF_CHECK(index.dim() == x.dim(), "{}: index {} must have as many dims as x {}", op, index.describe(),
           x.describe());
  for (int64_t k = 0; k < x.dim(); ++k) {
    FF_CHECK(k == dim || index.size(k) <= x.size(k),
             "{}: index {} is larger than x {} in dim {} ({} > {}); only dim {} may exceed x", op,
             index.describe(), x.describe(), k, index.size(k), x.size(k), dim);
  }
}

}  // namespace

// ---- index_select -------------------------------------------------------------------------------
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  graph::OpTrace trace("index_select");
  check_defined(x, "index_select", "x");
  check_index_tensor(index, "index_select", "index");
  check_same_device({x, index}, "index_select");
  FF_CHECK(x.dim() > 0, "index_select: x must have at least one dim, got {}", x.describe());
  FF_CHECK(index.dim() == 1, "index_select: index must be 1-D, got {}", index.describe());
  const int64_t d = normalize_dim(dim, x.dim(), "index_select");
  Shape out_shape = x.sizes();
  out_shape[d] = index.numel();
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  static const dispatch::OpHandle op("index_select");
  op.kernel<IndexSelectKernel>(x.device().type, x.dtype())(out, x.detach(), d, index.detach());
  // Backward: g's rows go back to the rows they came from; rows selected twice sum. That is a
  // scatter_add of g with the index broadcast along every other dim (a stride-0 view, no copy).
  const Shape x_shape = x.sizes();
  autograd::record("index_select", {x}, {out}, {index},
                   [d, x_shape](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
                     const Tensor& g = ctx.grad_outputs[0];
                     const Tensor& idx = ctx.saved(0);
                     Shape along(g.dim(), 1);
                     along[d] = idx.numel();
                     const Tensor spread = idx.view(along).expand(g.sizes());
                     return {scatter_add(zeros(x_shape, g.dtype(), g.device()), d, spread, g)};
                   });
  if (trace.recording()) trace.record({x, index}, {out}, {{"dim", d}});
  return out;
}

// ---- gather -----------------------------------------------------------------------------------------
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  graph::OpTrace trace("gather");
  check_defined(x, "gather", "x");
  check_index_tensor(index, "gather", "index");
  check_same_device({x, index}, "gather");
  FF_CHECK(x.dim() > 0, "gather: x must have at least one dim, got {}", x.describe());
  const int64_t d = normalize_dim(dim, x.dim(), "gather");
  check_index_fits(x, index, d, "gather");
  Tensor out = Tensor::empty(index.sizes(), x.dtype(), x.device());
  static const dispatch::OpHandle op("gather");
  op.kernel<GatherKernel>(x.device().type, x.dtype())(out, x.detach(), d, index.detach());
  // Backward: every gathered element's gradient goes back where it was read (duplicates sum).
  const Shape x_shape = x.sizes();
  autograd::record("gather", {x}, {out}, {index},
                   [d, x_shape](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
                     const Tensor& g = ctx.grad_outputs[0];
                     return {scatter_add(zeros(x_shape, g.dtype(), g.device()), d, ctx.saved(0), g)};
                   });
  if (trace.recording()) trace.record({x, index}, {out}, {{"dim", d}});
  return out;
}

// ---- scatter_add ------------------------------------------------------------------------------------
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  graph::OpTrace trace("scatter_add");
  check_defined(x, "scatter_add", "x");
  check_index_tensor(index, "scatter_add", "index");
  check_defined(src, "scatter_add", "src");
  check_same_device({x, index, src}, "scatter_add");
  FF_CHECK(x.dim() > 0, "scatter_add: x must have at least one dim, got {}", x.describe());
  const int64_t d = normalize_dim(dim, x.dim(), "scatter_add");
  FF_CHECK(src.sizes() == index.sizes(), "scatter_add: src {} and index {} must have the same shape",
           src.describe(), index.describe());
  check_index_fits(x, index, d, "scatter_add");
  FF_CHECK(src.dtype() == x.dtype(), "scatter_add: src {} must have the dtype of x {}", src.describe(),
           x.describe());
  Tensor out = Tensor::empty(x.sizes(), x.dtype(), x.device());
  copy_into(out, x.detach());
  static const dispatch::OpHandle op("scatter_add");
  op.kernel<ScatterAddKernel>(x.device().type, x.dtype())(out, d, index.detach(), src.detach());
  // Backward: out = x + (a sum of src elements), so dx = g and dsrc = g read where src was added.
  autograd::record("scatter_add", {x, src}, {out}, {index},
                   [d](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
                     const Tensor& g = ctx.grad_outputs[0];
                     return {ctx.needs_input_grad(0) ? g : Tensor(),
                             ctx.needs_input_grad(1) ? gather(g, d, ctx.saved(0)) : Tensor()};
                   });
  if (trace.recording()) trace.record({x, index, src}, {out}, {{"dim", d}});
  return out;
}

// ---- one_hot ----------------------------------------------------------------------------------------
Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype) {
  graph::OpTrace trace("one_hot");
  check_index_tensor(labels, "one_hot", "labels");
  FF_CHECK(num_classes > 0, "one_hot: num_classes must be positive, got {} (labels {})", num_classes,
           labels.describe());
  Shape out_shape = labels.sizes();
  out_shape.push_back(num_classes);
  Tensor out = Tensor::empty(out_shape, dtype, labels.device());
  static const dispatch::OpHandle op("one_hot");
  op.kernel<OneHotKernel>(labels.device().type, dtype)(out, labels.detach());
  if (trace.recording()) {
    trace.record({labels}, {out}, {{"num_classes", num_classes}, {"dtype", static_cast<int64_t>(dtype)}});
  }
  return out;
}

// ---- CPU kernels --------------------------------------------------------------------------------------
namespace {

// Row-major linear position -> "[i, j, k]", for error messages.
std::string position_str(const Shape& shape, int64_t linear) {
  Shape pos(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    pos[k] = linear % shape[k];
    linear /= shape[k];
  }
  return shape_str(pos);
}

const char* negative_note(int64_t value) { return value < 0 ? "; negative indices are not supported" : ""; }

// Calls visit(position, value) for the elements of `index` (any strides) in row-major order,
// with contiguous ranges of positions split over threads. visit returns false to stop its range.
template <typename I, typename Visit>
void for_each_index(const Tensor& index, Visit visit) {
  const I* base = index.data<I>();
  const Shape& sizes = index.sizes();
  const Strides& strides = index.strides();
  const int64_t ndim = index.dim();
  parallel_for(0, index.numel(), kParallelGrain, [&](int64_t begin, int64_t end) {
    Shape pos(ndim);
    int64_t off = 0;
    for (int64_t k = ndim - 1, r = begin; k >= 0; --k) {
      pos[k] = r % sizes[k];
      r /= sizes[k];
      off += pos[k] * strides[k];
    }
    for (int64_t i = begin; i < end; ++i) {
      if (!visit(i, static_cast<int64_t>(base[off]))) return;
      for (int64_t k = ndim - 1; k >= 0; --k) {
        off += strides[k];
        if (++pos[k] < sizes[k]) break;
        off -= sizes[k] * strides[k];
        pos[k] = 0;
      }
    }
  });
}

struct BadIndex {
  int64_t position;  // row-major, in the index tensor
  int64_t value;
};

// The first element of `index` outside [0, limit), if any. Checked before any kernel loop:
// errors cannot be thrown out of the threads, and no memory is touched on a bad index.
template <typename I>
std::optional<BadIndex> find_bad_index(const Tensor& index, int64_t limit) {
  std::mutex mutex;
  std::optional<BadIndex> first;
  for_each_index<I>(index, [&](int64_t pos, int64_t value) {
    if (value >= 0 && value < limit) return true;
    std::lock_guard<std::mutex> lock(mutex);
    if (!first || pos < first->position) first = BadIndex{pos, value};
    return false;
  });
  return first;
}

// out[p] = x[p with coordinate `dim` replaced by index[p]] for every position p of out; `index`
// is laid out over out's shape (stride 0 where it is broadcast) and already range-checked.
template <typename T, typename I>
void gather_along_dim(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  Strides x_strides = x.strides();
  const int64_t x_dim_stride = x_strides[dim];
  x_strides[dim] = 0;  // the coordinate along dim comes from the index
  T* out_ptr = out.data<T>();
  const T* x_ptr = x.data<T>();
  const I* idx_ptr = index.data<I>();
  const std::array<Strides, 3> strides{out.strides(), index.strides(), x_strides};
  cpu::cpu_strided_loop<3>(out.sizes(), strides, [&](const std::array<int64_t, 3>& off, int64_t n,
                                                     const std::array<int64_t, 3>& s) {
    T* o = out_ptr + off[0];
    const I* ip = idx_ptr + off[1];
    const T* xp = x_ptr + off[2];
    if (s[1] == 0) {  // one index for the whole run (index_select's rows): copy a row of x
      const T* row = xp + static_cast<int64_t>(ip[0]) * x_dim_stride;
      if (s[0] == 1 && s[2] == 1) {
        std::copy(row, row + n, o);
      } else {
        for (int64_t j = 0; j < n; ++j) o[j * s[0]] = row[j * s[2]];
      }
    } else {
      for (int64_t j = 0; j < n; ++j) o[j * s[0]] = xp[j * s[2] + static_cast<int64_t>(ip[j * s[1]]) * x_dim_stride];
    }
  });
}

void index_select_cpu(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  FF_DISPATCH_INDEX(index.dtype(), "index_select", [&] {
    using I = scalar_t;
    if (const auto bad = find_bad_index<I>(index, x.size(dim))) {
      FF_THROW("index_select: index {} at position {} of index {} is out of range for dim {} of x {} "
               "(valid range [0, {})){}",
               bad->value, position_str(index.sizes(), bad->position), index.describe(), dim, x.describe(),
               x.size(dim), negative_note(bad->value));
    }
    // The 1-D index laid over out's shape: stride 0 everywhere except along dim.
    Strides spread_strides(out.dim(), 0);
    spread_strides[dim] = index.stride(0);
    const Tensor spread =
        Tensor::from_storage(index.storage(), out.sizes(), spread_strides, index.storage_offset(), index.dtype());
    FF_DISPATCH_ALL(x.dtype(), "index_select", [&] { gather_along_dim<scalar_t, I>(out, x, dim, spread); });
  });
}

void gather_cpu(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  FF_DISPATCH_INDEX(index.dtype(), "gather", [&] {
    using I = scalar_t;
    if (const auto bad = find_bad_index<I>(index, x.size(dim))) {
      FF_THROW("gather: index {} at position {} of index {} is out of range for dim {} of x {} "
               "(valid range [0, {})){}",
               bad->value, position_str(index.sizes(), bad->position), index.describe(), dim, x.describe(),
               x.size(dim), negative_note(bad->value));
    }
    FF_DISPATCH_ALL(x.dtype(), "gather", [&] { gather_along_dim<scalar_t, I>(out, x, dim, index); });
  });
}

// out[p with coordinate `dim` replaced by index[p]] += src[p]. Positions of index that differ
// outside `dim` write to different elements of out, so threads split those "slices" and each
// walks its slice along `dim` serially: duplicates never race, and the order of the additions
// (hence the rounding) does not depend on the thread count.
template <typename T, typename I>
void scatter_add_along_dim(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  using A = acc_t<T>;
  Shape slices = index.sizes();
  const int64_t length = slices[dim];
  slices[dim] = 1;
  const int64_t out_dim_stride = out.stride(dim);
  const int64_t idx_dim_stride = index.stride(dim);
  const int64_t src_dim_stride = src.stride(dim);
  T* out_ptr = out.data<T>();
  const I* idx_ptr = index.data<I>();
  const T* src_ptr = src.data<T>();
  const std::array<Strides, 3> strides{out.strides(), index.strides(), src.strides()};
  cpu::cpu_strided_loop<3>(slices, strides, [&](const std::array<int64_t, 3>& off, int64_t n,
                                                const std::array<int64_t, 3>& s) {
    T* o = out_ptr + off[0];
    // Step k along dim for the whole run, so each step reads a run of src (a row, for
    // index_select's backward) instead of striding down one column at a time.
    for (int64_t k = 0; k < length; ++k) {
      const I* ik = idx_ptr + off[1] + k * idx_dim_stride;
      const T* sk = src_ptr + off[2] + k * src_dim_stride;
      if (s[1] == 0) {  // one index for the run: add a row of src into one row of out
        T* row = o + static_cast<int64_t>(ik[0]) * out_dim_stride;
        for (int64_t j = 0; j < n; ++j) {
          row[j * s[0]] = static_cast<T>(static_cast<A>(row[j * s[0]]) + static_cast<A>(sk[j * s[2]]));
        }
      } else {
        for (int64_t j = 0; j < n; ++j) {
          T& dst = o[j * s[0] + static_cast<int64_t>(ik[j * s[1]]) * out_dim_stride];
          dst = static_cast<T>(static_cast<A>(dst) + static_cast<A>(sk[j * s[2]]));
        }
      }
    }
  });
}

void scatter_add_cpu(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  FF_DISPATCH_INDEX(index.dtype(), "scatter_add", [&] {
    using I = scalar_t;
    if (const auto bad = find_bad_index<I>(index, out.size(dim))) {
      FF_THROW("scatter_add: index {} at position {} of index {} is out of range for dim {} of x {} "
               "(valid range [0, {})){}",
               bad->value, position_str(index.sizes(), bad->position), index.describe(), dim, out.describe(),
               out.size(dim), negative_note(bad->value));
    }
    FF_DISPATCH_ALL(out.dtype(), "scatter_add", [&] {
      if constexpr (std::is_same_v<scalar_t, bool>) {
        FF_THROW("scatter_add: not supported for bool tensors");
      } else {
        scatter_add_along_dim<scalar_t, I>(out, dim, index, src);
      }
    });
  });
}

void one_hot_cpu(const Tensor& out, const Tensor& labels) {
  FF_ASSERT(out.is_contiguous(), "one_hot: output {} must be contiguous", out.describe());
  const int64_t num_classes = out.size(-1);
  FF_DISPATCH_INDEX(labels.dtype(), "one_hot", [&] {
    using I = scalar_t;
    if (const auto bad = find_bad_index<I>(labels, num_classes)) {
      FF_THROW("one_hot: label {} at position {} of labels {} is out of range for num_classes {} "
               "(valid labels [0, {})){}",
               bad->value, position_str(labels.sizes(), bad->position), labels.describe(), num_classes,
               num_classes, negative_note(bad->value));
    }
    FF_DISPATCH_ALL(out.dtype(), "one_hot", [&] {
      scalar_t* o = out.data<scalar_t>();
      const auto zero = static_cast<scalar_t>(static_cast<acc_t<scalar_t>>(0));
      const auto one = static_cast<scalar_t>(static_cast<acc_t<scalar_t>>(1));
      parallel_for(0, out.numel(), kParallelGrain, [&](int64_t b, int64_t e) { std::fill(o + b, o + e, zero); });
      // Label at row-major position p owns row p of out: threads never share a row.
      for_each_index<I>(labels, [&](int64_t pos, int64_t label) {
        o[pos * num_classes + label] = one;
        return true;
      });
    });
  });
}

}  // namespace

// Pure data movement: every dtype. scatter_add adds, so numeric types only.
FF_REGISTER_KERNEL(index_select, CPU, dispatch::kAllTypes, &index_select_cpu);
FF_REGISTER_KERNEL(gather, CPU, dispatch::kAllTypes, &gather_cpu);
FF_REGISTER_KERNEL(scatter_add, CPU, dispatch::kNumericTypes, &scatter_add_cpu);
FF_REGISTER_KERNEL(one_hot, CPU, dispatch::kAllTypes, &one_hot_cpu);

}  // namespace ff
