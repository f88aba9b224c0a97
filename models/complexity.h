// Parameter counts and multiply-accumulate (MAC) counts of a model, measured on a real forward.
//
// Counting rule = ptflops' module hooks (its "pytorch" backend), the tool behind arcface_torch's
// flops.py, whose output the arcface_torch README reports as "GFLOPs" (r50 6.3G, r100 12.1G,
// mbf 0.45G). Those figures are MACs, not FLOPs: one multiply-accumulate counts 1. Per call:
//   Conv2d       N * H_out * W_out * kH * kW * C_in * C_out / groups   (+ N * H_out * W_out * C_out with bias)
//   Linear       numel(input) * out_features                            (+ out_features with bias, once:
//                                                                          ptflops does not scale it by N)
//   BatchNorm    numel(input) * 2 when affine, else numel(input)
//   PReLU, ReLU  numel(output)
//   everything else (residual additions, flatten, dropout, dtype casts): 0
// Only conv + linear is what ptflops' newer "aten" backend reports; it is listed separately.
// A training step costs about 3x the forward (backward to inputs and to weights); FLOPs ~ 2x MACs.
//
// The walk: measure_complexity() runs one forward of a zero input of `input_shape` in eval mode
// without autograd, inside a LayerTrace (layer_trace.h), and prices each recorded layer call from
// its actual input and output shapes. It throws if any Conv2d/Linear/BatchNorm/PReLU/ReLU of the
// model never appeared in the trace (a forward that bypasses call_layer()), so the count cannot
// silently miss layers. The model's training mode is restored afterwards.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/core/shape.h"
#include "framework/nn/module.h"

namespace ff::models {

struct LayerCost {
  std::string name;  // dotted module path ("layer1.0.conv1")
  std::string type;  // "Conv2d", "Linear", "BatchNorm2d", ...
  Shape input;
  Shape output;
  int64_t macs = 0;
};

struct Complexity {
  int64_t parameters = 0;            // elements of all parameters, frozen ones included
  int64_t trainable_parameters = 0;  // those with requires_grad
  int64_t parameter_bytes = 0;       // in their current dtypes
  int64_t conv_macs = 0;
  int64_t linear_macs = 0;
  int64_t batch_norm_macs = 0;
  int64_t activation_macs = 0;    // PReLU / ReLU
  std::vector<LayerCost> layers;  // every priced call, in execution order

  // The ptflops total (what arcface_torch's README calls GFLOPs, x 1e9).
  int64_t total_macs() const { return conv_macs + linear_macs + batch_norm_macs + activation_macs; }
  // Conv + linear only (ptflops' aten backend).
  int64_t conv_linear_macs() const { return conv_macs + linear_macs; }
};

// `input_shape` is the full input, batch included, e.g. {1, 3, 112, 112}.
Complexity measure_complexity(nn::Module& model, const Shape& input_shape);

}  // namespace ff::models
