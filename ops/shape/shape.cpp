// Joining and splitting: concat (with a CPU kernel), stack and split (composites that record
// their own backward). Forward and backward side by side; the CPU kernel is at the bottom.
#include "ops/shape/shape.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "framework/dispatch/registry.h"
#include "framework/graph/tracer.h"
#include "ops/common/cpu_loops.h"
#include "ops/tensor_ops/copy.h"

namespace ff {

FF_REGISTER_OP(concat, dispatch::kDifferentiable | dispatch::kOnnxExportable);
// stack = unsqueeze + concat, split = narrow views: no kernels of their own, but each records
// one node so its gradient is checked as a unit.
FF_REGISTER_OP(stack, dispatch::kDifferentiable | dispatch::kOnnxExportable | dispatch::kDeviceAgnostic);
FF_REGISTER_OP(split, dispatch::kDifferentiable | dispatch::kOnnxExportable | dispatch::kDeviceAgnostic);

namespace {

void check_all_defined(const std::vector<Tensor>& tensors, const char* op) {
  FF_CHECK(!tensors.empty(), "{}: needs at least one tensor, got an empty list", op);
  for (size_t i = 0; i < tensors.size(); ++i) {
    FF_CHECK(tensors[i].defined(), "{}: tensor {} of {} is undefined", op, i, tensors.size());
  }
  check_same_device(tensors, op);
}

// "tensor 2 float32[2, 5] on cpu, tensor 4 float32[3, 4] on cpu" for the error messages.
std::string describe_positions(const std::vector<Tensor>& tensors, const std::vector<size_t>& positions) {
  std::string s;
  for (size_t p : positions) s += fmt::format("{}tensor {} {}", s.empty() ? "" : ", ", p, tensors[p].describe());
  return s;
}

}  // namespace

// ---- concat -----------------------------------------------------------------------------------
Tensor concat(const std::vector<Tensor>& tensors, int64_t dim) {
  graph::OpTrace trace("concat");
  check_all_defined(tensors, "concat");
  const Tensor& first = tensors[0];
  FF_CHECK(first.dim() > 0, "concat: cannot concatenate zero-dimensional tensors (tensor 0 is {}); use stack",
           first.describe());
  const int64_t d = normalize_dim(dim, first.dim(), "concat");

  std::vector<size_t> rank_mismatch, shape_mismatch;
  Shape out_shape = first.sizes();
  out_shape[d] = 0;
  DType dtype = first.dtype();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (t.dim() != first.dim()) {
      rank_mismatch.push_back(i);
      continue;
    }
    for (int64_t k = 0; k < t.dim(); ++k) {
      if (k != d && t.size(k) != first.size(k)) {
        shape_mismatch.push_back(i);
        break;
      }
    }
    out_shape[d] += t.size(d);
    dtype = promote_types(dtype, t.dtype());
  }
  FF_CHECK(rank_mismatch.empty(), "concat: every tensor needs {} dims like tensor 0 ({}); mismatched: {}",
           first.dim(), first.describe(), describe_positions(tensors, rank_mismatch));
  FF_CHECK(shape_mismatch.empty(),
           "concat along dim {}: every dim except {} must match tensor 0 ({}); mismatched: {}", d, d,
           first.describe(), describe_positions(tensors, shape_mismatch));

  // The kernel sees detached inputs already converted to the common dtype.
  std::vector<Tensor> inputs;
  std::vector<int64_t> lengths;  // size(d) of each input, for the backward
  inputs.reserve(tensors.size());
  for (const Tensor& t : tensors) {
    inputs.push_back(t.dtype() == dtype ? t.detach() : cast(t.detach(), dtype));
    lengths.push_back(t.size(d));
  }
  Tensor out = Tensor::empty(out_shape, dtype, first.device());
  if (out.numel() > 0) {
    static const dispatch::OpHandle op("concat");
    op.kernel<ConcatKernel>(out.device().type, dtype)(out, inputs, d);
  }
  // Backward: each input's gradient is its slab of g (a view); autograd casts it back to the
  // input's dtype when concat promoted it.
  autograd::record("concat", tensors, {out}, {}, [d, lengths](const autograd::BackwardContext& ctx) {
    const Tensor& g = ctx.grad_outputs[0];
    std::vector<Tensor> grads(lengths.size());
    int64_t offset = 0;
    for (size_t i = 0; i < lengths.size(); ++i) {
      if (ctx.needs_input_grad(i)) grads[i] = g.narrow(d, offset, lengths[i]);
      offset += lengths[i];
    }
    return grads;
  });
  if (trace.recording()) trace.record(tensors, {out}, {{"dim", d}});
  return out;
}

// ---- stack --------------------------------------------------------------------------------------
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  graph::OpTrace trace("stack");
  check_all_defined(tensors, "stack");
  const Tensor& first = tensors[0];
  const int64_t d = normalize_dim(dim, first.dim() + 1, "stack");
  std::vector<size_t> mismatch;
  for (size_t i = 1; i < tensors.size(); ++i) {
    if (tensors[i].sizes() != first.sizes()) mismatch.push_back(i);
  }
  FF_CHECK(mismatch.empty(), "stack: every tensor must have the shape of tensor 0 ({}); mismatched: {}",
           first.describe(), describe_positions(tensors, mismatch));
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (const Tensor& t : tensors) parts.push_back(t.detach().unsqueeze(d));
  Tensor out = concat(parts, d);  // detached parts: concat records nothing
  const size_t count = tensors.size();
  autograd::record("stack", tensors, {out}, {}, [d, count](const autograd::BackwardContext& ctx) {
    const Tensor& g = ctx.grad_outputs[0];
    std::vector<Tensor> grads(count);
    for (size_t i = 0; i < count; ++i) {
      if (ctx.needs_input_grad(i)) grads[i] = g.select(d, static_cast<int64_t>(i));
    }
    return grads;
  });
  if (trace.recording()) trace.record(tensors, {out}, {{"dim", d}});
  return out;
}

// ---- split --------------------------------------------------------------------------------------
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  graph::OpTrace trace("split");
  check_defined(x, "split", "x");
  FF_CHECK(x.dim() > 0, "split: cannot split a zero-dimensional tensor {}", x.describe());
  FF_CHECK(!sizes.empty(), "split: needs at least one size to split {}", x.describe());
  const int64_t d = normalize_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    FF_CHECK(s >= 0, "split: sizes [{}] contain the negative size {}", fmt::join(sizes, ", "), s);
    total += s;
  }
  FF_CHECK(total == x.size(d), "split: sizes [{}] sum to {} but dim {} of {} has size {}", fmt::join(sizes, ", "),
           total, d, x.describe(), x.size(d));
  // Views of the detached input: the single "split" node below is their only history.
  const Tensor base = x.detach();
  std::vector<Tensor> outs;
  outs.reserve(sizes.size());
  int64_t offset = 0;
  for (int64_t s : sizes) {
    outs.push_back(base.narrow(d, offset, s));
    offset += s;
  }
  // Backward: the chunks' gradients laid back side by side (unused chunks arrive as zeros).
  autograd::record("split", {x}, outs, {}, [d](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    return {concat(ctx.grad_outputs, d)};
  });
  if (trace.recording()) trace.record({x}, outs, {{"dim", d}, {"sizes", sizes}});
  return outs;
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  check_defined(x, "split", "x");
  FF_CHECK(x.dim() > 0, "split: cannot split a zero-dimensional tensor {}", x.describe());
  const int64_t n = x.size(normalize_dim(dim, x.dim(), "split"));
  FF_CHECK(split_size > 0, "split: split_size must be positive, got {} for {}", split_size, x.describe());
  std::vector<int64_t> sizes;
  for (int64_t start = 0; start < n; start += split_size) sizes.push_back(std::min(split_size, n - start));
  if (sizes.empty()) sizes.push_back(0);  // an empty dim splits into one empty chunk
  return split(x, sizes, dim);
}

// ---- CPU kernel ---------------------------------------------------------------------------------
namespace {

// out viewed as [outer, out.size(dim) * inner]; input i fills columns [offset_i * inner, ...) of
// every outer row. Contiguous inputs are copied one memcpy per outer row; strided inputs go
// through the strided element loop into the matching slab of out.
void concat_cpu(const Tensor& out, const std::vector<Tensor>& inputs, int64_t dim) {
  FF_ASSERT(out.is_contiguous(), "concat: output {} must be contiguous", out.describe());
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < dim; ++k) outer *= out.size(k);
  for (int64_t k = dim + 1; k < out.dim(); ++k) inner *= out.size(k);
  const size_t elem = out.element_size();
  const int64_t out_row = out.size(dim) * inner;
  char* out_base = static_cast<char*>(out.raw_data());
  int64_t offset = 0;
  for (const Tensor& in : inputs) {
    FF_ASSERT(in.dtype() == out.dtype(), "concat: input {} does not match output {}", in.describe(),
              out.describe());
    const int64_t length = in.size(dim);
    const int64_t block = length * inner;  // elements each outer row of `in` contributes
    if (block > 0) {
      if (in.is_contiguous()) {
        const char* src = static_cast<const char*>(in.raw_data());
        char* dst = out_base + static_cast<size_t>(offset * inner) * elem;
        const size_t row_bytes = static_cast<size_t>(block) * elem;
        parallel_for(0, outer, std::max<int64_t>(1, kParallelGrain / block), [&](int64_t b, int64_t e) {
          for (int64_t r = b; r < e; ++r) {
            std::memcpy(dst + static_cast<size_t>(r * out_row) * elem, src + static_cast<size_t>(r) * row_bytes,
                        row_bytes);
          }
        });
      } else {
        const Tensor slab = out.narrow(dim, offset, length);
        FF_DISPATCH_ALL(out.dtype(), "concat", [&] {
          cpu::cpu_map<scalar_t, scalar_t>(slab, [](scalar_t v) { return v; }, {in});
        });
      }
    }
    offset += length;
  }
}

}  // namespace

FF_REGISTER_KERNEL(concat, CPU, dispatch::kAllTypes, &concat_cpu);

}  // namespace ff
