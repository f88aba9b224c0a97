#include "ops/tensor_ops/copy.h"

#include "framework/autograd/autograd.h"
#include "framework/dispatch/registry.h"
#include "framework/graph/tracer.h"
#include "ops/common/cpu_loops.h"

namespace ff {

FF_REGISTER_OP(copy, dispatch::kNoFlags);
FF_REGISTER_OP(cast, dispatch::kDifferentiable | dispatch::kOnnxExportable | dispatch::kDeviceAgnostic);

void copy_into(const Tensor& dst, const Tensor& src) {
  check_defined(dst, "copy_into", "dst");
  check_defined(src, "copy_into", "src");
  const Shape b = broadcast_shapes(dst.sizes(), src.sizes(), "copy_into");
  FF_CHECK(b == dst.sizes(), "copy_into: source {} does not broadcast to destination {}", src.describe(),
           dst.describe());
  if (dst.numel() == 0) return;
  if (dst.device() != src.device()) {
    // Cross-device: convert on the source device, then move contiguous bytes.
    Tensor staged = src.expand(dst.sizes()).to(dst.dtype()).contiguous();
    const bool direct = dst.is_contiguous();
    Tensor target = direct ? dst : Tensor::empty(dst.sizes(), dst.dtype(), dst.device());
    const Device remote = dst.device().is_cpu() ? src.device() : dst.device();
    backend_for(remote.type).copy_bytes(target.raw_data(), target.device(), staged.raw_data(), staged.device(),
                                        static_cast<size_t>(staged.numel()) * staged.element_size());
    if (!direct) copy_into(dst, target);
    return;
  }
  static const dispatch::OpHandle op("copy");
  op.kernel<CopyKernel>(dst.device().type, dst.dtype())(dst, src.expand(dst.sizes()));
}

Tensor cast(const Tensor& t, DType dtype) {
  graph::OpTrace trace("cast");
  check_defined(t, "cast", "input");
  if (t.dtype() == dtype) return t;
  Tensor out = Tensor::empty(t.sizes(), dtype, t.device());
  copy_into(out, t);
  const DType from = t.dtype();
  if (is_floating(dtype) && is_floating(from)) {
    autograd::record("cast", {t}, {out}, {}, [from](const autograd::BackwardContext& ctx) -> std::vector<Tensor> {
      return {cast(ctx.grad_outputs[0], from)};
    });
  }
  if (trace.recording()) trace.record({t}, {out}, {{"dtype", static_cast<int64_t>(dtype)}});
  return out;
}

// ---- CPU kernel ---------------------------------------------------------------------------------
namespace {
void copy_cpu(const Tensor& dst, const Tensor& src) {
  FF_DISPATCH_ALL(dst.dtype(), "copy", [&] {
    using dst_t = scalar_t;
    FF_DISPATCH_ALL(src.dtype(), "copy", [&] {
      using src_t = scalar_t;
      // Through the wider compute type so half<->bfloat16 and float->int behave like C casts.
      cpu::cpu_map<dst_t, src_t>(
          dst, [](src_t v) { return static_cast<dst_t>(static_cast<acc_t<dst_t>>(static_cast<acc_t<src_t>>(v))); },
          {src});
    });
  });
}
}  // namespace

FF_REGISTER_KERNEL(copy, CPU, dispatch::kAllTypes, &copy_cpu);

}  // namespace ff
