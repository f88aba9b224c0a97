// Times one conv layer of the benchmark tables (bench_shapes.h) the same way on any device:
// forward under NoGradGuard, then forward + backward with a random output gradient (grad_weight
// always, grad_input unless the layer's input is the image). The caller supplies how tensors are
// made (device, dtype) and how a body is timed (best-of on the CPU, CUDA-event medians on a GPU).
#pragma once

#include <cstdint>
#include <functional>

#include "apps/bench/bench_shapes.h"
#include "framework/autograd/autograd.h"
#include "ops/conv/conv2d.h"

namespace ff::bench {

struct ConvLayerTiming {
  Shape weight_shape;
  double fwd = 0.0, train = 0.0;  // in the unit of the caller's timer
  // fwd = 2 N C_out H_out W_out (C_in / groups) kH kW; backward adds one forward-sized product
  // for grad_weight and one more for grad_input when it is needed.
  double fwd_flops = 0.0, train_flops = 0.0;
};

// make(shape, seed) -> Tensor; time(body) -> a duration. `seed` advances by 3.
inline ConvLayerTiming time_conv_layer(const ConvLayer& l, int64_t batch,
                                       const std::function<Tensor(const Shape&, uint64_t)>& make,
                                       const std::function<double(const std::function<void()>&)>& time,
                                       uint64_t& seed) {
  Conv2dParams p;
  const int64_t pad = l.padding >= 0 ? l.padding : l.kernel / 2;
  p.stride = {l.stride, l.stride};
  p.padding = {pad, pad};
  p.groups = l.groups;
  ConvLayerTiming t;
  t.weight_shape = {l.c_out, l.c_in / l.groups, l.kernel, l.kernel};
  Tensor x = make({batch, l.c_in, l.size, l.size}, seed++);
  Tensor w = make(t.weight_shape, seed++);
  const Shape y_shape = conv2d_output_shape(x, w, Tensor(), p);
  const Tensor g = make(y_shape, seed++);
  t.fwd_flops = 2.0 * static_cast<double>(batch * l.c_out * y_shape[2] * y_shape[3]) *
                static_cast<double>(l.c_in / l.groups * l.kernel * l.kernel);
  t.train_flops = t.fwd_flops * (l.needs_input_grad ? 3.0 : 2.0);
  t.fwd = time([&] {
    autograd::NoGradGuard no_grad;
    (void)conv2d(x, w, Tensor(), p);
  });
  if (l.needs_input_grad) x.set_requires_grad(true);
  w.set_requires_grad(true);
  t.train = time([&] {
    conv2d(x, w, Tensor(), p).backward(g);
    x.zero_grad();
    w.zero_grad();
  });
  return t;
}

}  // namespace ff::bench
