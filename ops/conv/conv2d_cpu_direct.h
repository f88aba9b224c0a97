// Direct CPU loops of conv2d for depthwise and other narrow grouped convs (at most
// kDirectMaxChannelsPerGroup input channels per group; MobileFaceNet's depthwise 3x3 layers, its
// groups-64 stem conv and the 7x7 GDC), where per-group GEMMs would be tiny. Internal to
// conv2d_cpu.cpp; T is float or double. Shapes as in conv2d_cpu_shape.h:
//   x / grad_x [n, c_in, h, w], weight / grad_w [c_out, c_in / groups, kh, kw],
//   out / grad_out [n, c_out, h_out, w_out], bias [c_out] or null.
#pragma once

#include "ops/conv/conv2d_cpu_shape.h"

namespace ff::conv_cpu {

template <typename T>
void direct_forward(T* out, const T* x, const T* w, const T* bias, const ConvShape& s);
template <typename T>
void direct_backward_input(T* grad_x, const T* grad_out, const T* w, const ConvShape& s);
template <typename T>
void direct_backward_weight(T* grad_w, const T* grad_out, const T* x, const ConvShape& s);

}  // namespace ff::conv_cpu
