#include "ops/common/cpu_loops.h"

namespace ff::cpu {

Strides broadcast_strides(const Tensor& t, const Shape& out_shape) {
  const auto& sizes = t.sizes();
  FF_ASSERT(sizes.size() <= out_shape.size(), "broadcast_strides: {} has more dims than {}",
            shape_str(sizes), shape_str(out_shape));
  Strides st(out_shape.size(), 0);
  const size_t lead = out_shape.size() - sizes.size();
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] == out_shape[lead + i]) {
      st[lead + i] = t.strides()[i];
    } else {
      FF_ASSERT(sizes[i] == 1, "broadcast_strides: {} does not broadcast to {}", shape_str(sizes),
                shape_str(out_shape));
    }
  }
  return st;
}

}  // namespace ff::cpu
