// matmul and linear: shape rules, forward and backward side by side; the device-independent
// GEMM planning (strides -> BLAS layouts) and the CPU GEMM kernel at the bottom.
#include "ops/linalg/matmul.h"

#include <algorithm>
#include <vector>

#include "framework/autograd/autograd.h"
#include "framework/core/parallel.h"
#include "framework/dispatch/registry.h"
#include "framework/graph/tracer.h"
#include "ops/linalg/cpu_blas.h"
#include "ops/reduce/reduce.h"
#include "ops/tensor_ops/copy.h"

namespace ff {

FF_REGISTER_OP(matmul, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(linear, dispatch::kDifferentiable | dispatch::kOnnxExportable);
FF_REGISTER_OP(gemm, dispatch::kNoFlags);

void gemm(const GemmParams& p, const Tensor& a, const Tensor& b, const Tensor& c) {
  static const dispatch::OpHandle op("gemm");
  op.kernel<GemmKernel>(c.device().type, c.dtype())(p, a, b, c);
}

namespace {

void check_matmul_operands(const Tensor& a, const Tensor& b, const char* op) {
  check_defined(a, op, "a");
  check_defined(b, op, "b");
  check_same_device({a, b}, op);
  FF_CHECK(a.dtype() == b.dtype(), "{}: operands must have the same dtype, got {} and {}", op, a.describe(),
           b.describe());
  FF_CHECK(is_floating(a.dtype()), "{}: floating operands required, got {} and {}", op, a.describe(), b.describe());
}

Shape batch_dims(const Tensor& t) { return Shape(t.sizes().begin(), t.sizes().end() - 2); }

Shape with_matrix(Shape batch, int64_t rows, int64_t cols) {
  batch.push_back(rows);
  batch.push_back(cols);
  return batch;
}

// a [..., M, K] @ b [..., K, N] for rank >= 2 operands (matmul() adapts 1-D ones with views).
Tensor matmul_batched(const Tensor& a, const Tensor& b) {
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  const Shape batch = broadcast_shapes(batch_dims(a), batch_dims(b), "matmul");
  Tensor out = Tensor::empty(with_matrix(batch, m, n), a.dtype(), a.device());
  static const dispatch::OpHandle op("matmul");
  op.kernel<MatmulKernel>(a.device().type, a.dtype())(out, a.detach(), b.detach());

  // grad_a = g @ b^T and grad_b = a^T @ g, summed over the batch dims each operand was broadcast
  // along. When one operand is a plain matrix shared by the whole batch, the batch sum folds into
  // the GEMM's inner dimension instead of materialising a [batch, ...] product first.
  autograd::record("matmul", {a, b}, {out}, {a, b}, [=](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
    const Tensor& g = ctx.grad_outputs[0];
    const Tensor& sa = ctx.saved(0);
    const Tensor& sb = ctx.saved(1);
    const int64_t batch_count = shape_numel(batch);
    Tensor ga, gb;
    if (ctx.needs_input_grad(0)) {
      if (sa.dim() == 2 && sb.dim() > 2) {
        // sum_i g_i @ b_i^T = [M, batch*N] @ [batch*N, K]
        const Tensor g_rows = g.reshape({batch_count, m, n}).permute({1, 0, 2}).reshape({m, batch_count * n});
        const Tensor bt_rows = sb.reshape({batch_count, k, n}).transpose(1, 2).reshape({batch_count * n, k});
        ga = matmul(g_rows, bt_rows);
      } else {
        ga = sum_to(matmul(g, sb.transpose(-1, -2)), sa.sizes());
      }
    }
    if (ctx.needs_input_grad(1)) {
      if (sb.dim() == 2 && sa.dim() > 2) {
        // sum_i a_i^T @ g_i = [K, batch*M] @ [batch*M, N]
        gb = matmul(sa.reshape({batch_count * m, k}).t(), g.reshape({batch_count * m, n}));
      } else {
        gb = sum_to(matmul(sa.transpose(-1, -2), g), sb.sizes());
      }
    }
    return {ga, gb};
  });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  graph::OpTrace trace("matmul");
  check_matmul_operands(a, b, "matmul");
  FF_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: operands need at least one dim, got {} and {}", a.describe(),
           b.describe());
  const int64_t k_a = a.size(-1);
  const int64_t k_b = b.dim() == 1 ? b.size(0) : b.size(-2);
  FF_CHECK(k_a == k_b, "matmul: cannot multiply {} by {}: inner dimensions {} and {} differ", a.describe(),
           b.describe(), k_a, k_b);
  if (a.dim() >= 2 && b.dim() >= 2) {
    const Shape ba = batch_dims(a), bb = batch_dims(b);
    for (size_t i = 1; i <= std::min(ba.size(), bb.size()); ++i) {
      const int64_t da = ba[ba.size() - i], db = bb[bb.size() - i];
      FF_CHECK(da == db || da == 1 || db == 1, "matmul: batch dims of {} and {} do not broadcast ({} vs {})",
               a.describe(), b.describe(), shape_str(ba), shape_str(bb));
    }
    Tensor out = matmul_batched(a, b);
    if (trace.recording()) trace.record({a, b}, {out});
    return out;
  }
  // NumPy's 1-D rules through views, so their gradients come for free.
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  Tensor out = matmul_batched(a2, b2);
  if (b.dim() == 1) out = out.squeeze(-1);
  if (a.dim() == 1) out = out.squeeze(out.dim() == 1 ? 0 : -2);
  if (trace.recording()) trace.record({a, b}, {out});
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  graph::OpTrace trace("linear");
  check_matmul_operands(x, weight, "linear");
  FF_CHECK(x.dim() >= 1, "linear: input must have at least one dim, got {}", x.describe());
  FF_CHECK(weight.dim() == 2, "linear: weight must be [out_features, in_features], got {}", weight.describe());
  FF_CHECK(x.size(-1) == weight.size(1), "linear: input {} has {} features but weight {} expects {}", x.describe(),
           x.size(-1), weight.describe(), weight.size(1));
  if (bias.defined()) {
    check_matmul_operands(x, bias, "linear");
    FF_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear: bias {} does not match weight {} ([{}] expected)",
             bias.describe(), weight.describe(), weight.size(0));
  }
  const int64_t in_features = weight.size(1), out_features = weight.size(0);
  Shape out_shape(x.sizes().begin(), x.sizes().end() - 1);
  const int64_t row_count = shape_numel(out_shape);  // not numel / in: right when in_features == 0
  out_shape.push_back(out_features);
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  const Tensor x2d = x.detach().reshape({row_count, in_features});
  static const dispatch::OpHandle op("linear");
  op.kernel<LinearKernel>(x.device().type, x.dtype())(out.view({row_count, out_features}), x2d, weight.detach(),
                                                      bias.defined() ? bias.detach() : Tensor());

  const Shape x_shape = x.sizes();
  autograd::record("linear", {x, weight, bias}, {out}, {x2d, weight},
                   [=](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
                     const Tensor g = ctx.grad_outputs[0].reshape({row_count, out_features});
                     const Tensor& xs = ctx.saved(0);
                     const Tensor& w = ctx.saved(1);
                     return {ctx.needs_input_grad(0) ? matmul(g, w).reshape(x_shape) : Tensor(),
                             ctx.needs_input_grad(1) ? matmul(g.t(), xs) : Tensor(),
                             ctx.needs_input_grad(2) ? sum(g, {0}) : Tensor()};
                   });
  if (trace.recording()) trace.record({x, weight, bias}, {out});
  return out;
}

// ---- GEMM planning (device-independent) ---------------------------------------------------------
namespace {

// How BLAS reads one [rows, cols] matrix: as stored with row stride ld, or (trans) as the
// transpose of a stored [cols, rows] matrix with row stride ld.
struct BlasLayout {
  bool trans = false;
  int64_t ld = 1;
};

// A matrix with strides (rs, cs) is BLAS-readable when one of its strides is 1 and the other
// spans a whole row; a single row or column constrains only one stride.
bool blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, BlasLayout* out) {
  if ((cols <= 1 || cs == 1) && (rows <= 1 || rs >= std::max<int64_t>(cols, 1))) {
    *out = {false, rows <= 1 ? std::max<int64_t>(cols, 1) : rs};
    return true;
  }
  if ((rows <= 1 || rs == 1) && (cols <= 1 || cs >= std::max<int64_t>(rows, 1))) {
    *out = {true, cols <= 1 ? std::max<int64_t>(rows, 1) : cs};
    return true;
  }
  return false;
}

// One GEMM operand x [x_batch..., rows, cols] seen against the output's batch shape.
struct GemmOperand {
  Tensor base;                   // x itself or a contiguous copy; raw_data() is batch entry 0
  BlasLayout layout;
  Strides batch_strides;         // per output batch dim; 0 where x is broadcast
  bool uniform = true;           // every entry batch_stride after the previous one
  int64_t batch_stride = 0;
};

void describe_batch(GemmOperand& op, const Shape& batch_shape) {
  const Tensor& x = op.base;
  const int64_t lead = static_cast<int64_t>(batch_shape.size()) - (x.dim() - 2);
  op.batch_strides.assign(batch_shape.size(), 0);
  for (int64_t i = std::max<int64_t>(lead, 0); i < static_cast<int64_t>(batch_shape.size()); ++i) {
    if (batch_shape[i] > 1 && x.size(i - lead) == batch_shape[i]) op.batch_strides[i] = x.stride(i - lead);
  }
  // Uniform when offset(entry e) == e * s, i.e. stride_i == s * (entries in the dims inside i).
  op.uniform = true;
  op.batch_stride = 0;
  int64_t inner_entries = 1;
  bool have_stride = false;
  for (int64_t i = static_cast<int64_t>(batch_shape.size()) - 1; i >= 0; --i) {
    if (batch_shape[i] == 1) continue;
    if (!have_stride) {
      op.batch_stride = op.batch_strides[i];
      have_stride = true;
    } else if (op.batch_strides[i] != op.batch_stride * inner_entries) {
      op.uniform = false;
    }
    inner_entries *= batch_shape[i];
  }
}

GemmOperand plan_operand(const Tensor& x, const Shape& batch_shape) {
  GemmOperand op;
  op.base = x;
  const int64_t rows = x.size(-2), cols = x.size(-1);
  if (!blas_layout(rows, cols, x.stride(-2), x.stride(-1), &op.layout)) {
    op.base = x.contiguous();
    blas_layout(rows, cols, op.base.stride(-2), op.base.stride(-1), &op.layout);
  }
  describe_batch(op, batch_shape);
  if (!op.uniform && !op.base.is_contiguous()) {  // a copy may make the batch uniform
    op.base = op.base.contiguous();
    blas_layout(rows, cols, op.base.stride(-2), op.base.stride(-1), &op.layout);
    describe_batch(op, batch_shape);
  }
  return op;
}

// A 0-d view whose raw_data() is `offset` elements past t's first element.
Tensor element_view(const Tensor& t, int64_t offset) {
  return Tensor::from_storage(t.storage(), {}, {}, t.storage_offset() + offset, t.dtype());
}

}  // namespace

void matmul_via_gemm(const Tensor& out, const Tensor& a, const Tensor& b) {
  FF_ASSERT(out.is_contiguous() && a.dim() >= 2 && b.dim() >= 2, "matmul kernel: bad operands {} {} {}",
            out.describe(), a.describe(), b.describe());
  if (out.numel() == 0) return;
  const Shape batch_shape(out.sizes().begin(), out.sizes().end() - 2);
  const int64_t batch = shape_numel(batch_shape);
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  const GemmOperand pa = plan_operand(a, batch_shape), pb = plan_operand(b, batch_shape);

  GemmParams p;
  p.m = m, p.n = n, p.k = k;
  p.trans_a = pa.layout.trans, p.lda = pa.layout.ld;
  p.trans_b = pb.layout.trans, p.ldb = pb.layout.ld;
  p.ldc = n;
  if (pa.uniform && pb.uniform) {
    p.batch = batch;
    p.batch_stride_a = pa.batch_stride, p.batch_stride_b = pb.batch_stride, p.batch_stride_c = m * n;
    // One B for the whole batch and A's entries stacked row after row: a single [batch*M, K] GEMM,
    // which is what x [B, T, K] @ W [K, N] needs to run at full speed.
    if (batch > 1 && pb.batch_stride == 0 && !pa.layout.trans && pa.batch_stride == m * pa.layout.ld) {
      p.m = batch * m, p.batch = 1;
      p.batch_stride_a = p.batch_stride_b = p.batch_stride_c = 0;
    }
    gemm(p, pa.base, pb.base, out);
    return;
  }
  // Batch dims that no single stride describes (e.g. [4, 1] against [1, 3]): one GEMM per entry.
  std::vector<int64_t> index(batch_shape.size(), 0);
  for (int64_t e = 0; e < batch; ++e) {
    int64_t off_a = 0, off_b = 0;
    for (size_t d = 0; d < index.size(); ++d) {
      off_a += index[d] * pa.batch_strides[d];
      off_b += index[d] * pb.batch_strides[d];
    }
    gemm(p, element_view(pa.base, off_a), element_view(pb.base, off_b), element_view(out, e * m * n));
    for (int64_t d = static_cast<int64_t>(index.size()) - 1; d >= 0; --d) {
      if (++index[d] < batch_shape[d]) break;
      index[d] = 0;
    }
  }
}

void linear_via_gemm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  FF_ASSERT(out.is_contiguous() && x.dim() == 2 && weight.dim() == 2, "linear kernel: bad operands {} {} {}",
            out.describe(), x.describe(), weight.describe());
  if (out.numel() == 0) return;
  const GemmOperand px = plan_operand(x, {});
  const GemmOperand pw = plan_operand(weight.transpose(0, 1), {});  // a contiguous weight reads as trans_b
  GemmParams p;
  p.m = x.size(0), p.k = x.size(1), p.n = weight.size(0);
  p.trans_a = px.layout.trans, p.lda = px.layout.ld;
  p.trans_b = pw.layout.trans, p.ldb = pw.layout.ld;
  p.ldc = p.n;
  if (bias.defined()) {
    copy_into(out, bias);  // every row starts as the bias; the GEMM accumulates onto it
    p.beta = 1.0;
  }
  gemm(p, px.base, pw.base, out);
}

// ---- CPU GEMM kernel --------------------------------------------------------------------------------
namespace {

template <typename T>
void gemm_cpu_blas(const GemmParams& p, const Tensor& a, const Tensor& b, const Tensor& c) {
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  T* pc = static_cast<T*>(c.raw_data());
  auto run_entries = [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      cpu::blas_gemm(p.trans_a, p.trans_b, p.m, p.n, p.k, static_cast<T>(p.alpha), pa + i * p.batch_stride_a, p.lda,
                     pb + i * p.batch_stride_b, p.ldb, static_cast<T>(p.beta), pc + i * p.batch_stride_c, p.ldc);
    }
  };
  // Whole entries per thread when they divide evenly (or there are plenty); otherwise each
  // entry's GEMM is split over the threads (blas_gemm does that outside a parallel region).
  const int64_t threads = get_num_threads();
  if (p.batch > 1 && threads > 1 && (p.batch % threads == 0 || p.batch >= 4 * threads)) {
    parallel_for(0, p.batch, 1, run_entries);
  } else {
    run_entries(0, p.batch);
  }
}

// Copies a stored [rows, cols] matrix (row stride ld) of T into dense float.
template <typename T>
void widen(const T* src, int64_t rows, int64_t cols, int64_t ld, std::vector<float>& dst) {
  dst.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) dst[r * cols + j] = static_cast<float>(src[r * ld + j]);
  }
}

// fp16/bf16: there is no BLAS for them, so each entry is widened to float, multiplied by
// sgemm and rounded once on store (the accumulation is float, like tensor cores).
template <typename T>
void gemm_cpu_half(const GemmParams& p, const Tensor& a, const Tensor& b, const Tensor& c) {
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  T* pc = static_cast<T*>(c.raw_data());
  const int64_t a_rows = p.trans_a ? p.k : p.m, a_cols = p.trans_a ? p.m : p.k;
  const int64_t b_rows = p.trans_b ? p.n : p.k, b_cols = p.trans_b ? p.k : p.n;
  std::vector<float> fa, fb, fc;
  for (int64_t i = 0; i < p.batch; ++i) {
    widen(pa + i * p.batch_stride_a, a_rows, a_cols, p.lda, fa);
    widen(pb + i * p.batch_stride_b, b_rows, b_cols, p.ldb, fb);
    T* ci = pc + i * p.batch_stride_c;
    if (p.beta != 0.0) {
      widen(ci, p.m, p.n, p.ldc, fc);
    } else {
      fc.assign(static_cast<size_t>(p.m * p.n), 0.0f);
    }
    cpu::blas_gemm(p.trans_a, p.trans_b, p.m, p.n, p.k, static_cast<float>(p.alpha), fa.data(),
                   std::max<int64_t>(a_cols, 1), fb.data(), std::max<int64_t>(b_cols, 1), static_cast<float>(p.beta),
                   fc.data(), std::max<int64_t>(p.n, 1));
    for (int64_t r = 0; r < p.m; ++r) {
      for (int64_t j = 0; j < p.n; ++j) ci[r * p.ldc + j] = static_cast<T>(fc[r * p.n + j]);
    }
  }
}

void gemm_cpu(const GemmParams& p, const Tensor& a, const Tensor& b, const Tensor& c) {
  FF_ASSERT(p.batch <= 1 || p.batch_stride_c >= p.m * p.ldc || p.m == 0 || p.n == 0,
            "gemm: batch entries of C overlap (batch {}, stride {}, [{} x {}], ldc {})", p.batch, p.batch_stride_c,
            p.m, p.n, p.ldc);
  FF_ASSERT(a.dtype() == c.dtype() && b.dtype() == c.dtype(), "gemm: mixed dtypes {} {} {}", a.describe(),
            b.describe(), c.describe());
  FF_DISPATCH_FLOATING(c.dtype(), "gemm", [&] {
    if constexpr (std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, double>) {
      gemm_cpu_blas<scalar_t>(p, a, b, c);
    } else {
      gemm_cpu_half<scalar_t>(p, a, b, c);
    }
  });
}

}  // namespace

FF_REGISTER_KERNEL(gemm, CPU, dispatch::kFloatingTypes, &gemm_cpu);
FF_REGISTER_KERNEL(matmul, CPU, dispatch::kFloatingTypes, &matmul_via_gemm);
FF_REGISTER_KERNEL(linear, CPU, dispatch::kFloatingTypes, &linear_via_gemm);

}  // namespace ff
