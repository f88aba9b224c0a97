// Parameter initialisers (torch.nn.init semantics), writing in place.
//
// Every function fills an existing floating tensor under autograd::NoGradGuard, so it works
// on parameters that require grad; the storage version is bumped. Random fills draw from
// `gen`, or from ff::default_generator() when it is null, so a fixed seed reproduces a model.
//
// Fans (needed by the Kaiming and Xavier families) follow PyTorch for a weight of shape
// [out, in, k...]: receptive = prod(k...), fan_in = in * receptive, fan_out = out * receptive.
// That covers Linear [out, in] and Conv2d [out, in / groups, kH, kW]. Tensors with fewer
// than 2 dims have no fans and are rejected.
#pragma once

#include <cstdint>

#include "framework/core/tensor.h"

namespace ff {
class Generator;
}

namespace ff::nn::init {

enum class FanMode { FanIn, FanOut };  // FanIn preserves forward variance, FanOut backward

enum class Nonlinearity { Linear, Conv, Sigmoid, Tanh, ReLU, LeakyReLU, SELU };

struct Fans {
  int64_t fan_in = 0;
  int64_t fan_out = 0;
};

// Fans of a weight with at least 2 dims (see above); throws naming the shape otherwise.
Fans calculate_fans(const Tensor& weight);

// Recommended gain for a nonlinearity: 1 for Linear/Conv/Sigmoid, 5/3 for Tanh, sqrt(2) for
// ReLU, sqrt(2 / (1 + slope^2)) for LeakyReLU (slope = negative_slope), 3/4 for SELU.
double calculate_gain(Nonlinearity nonlinearity, double negative_slope = 0.01);

// ---- plain fills ----------------------------------------------------------------------------
void constant_(const Tensor& t, double value);
void zeros_(const Tensor& t);
void ones_(const Tensor& t);
void normal_(const Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
void uniform_(const Tensor& t, double a = 0.0, double b = 1.0, Generator* gen = nullptr);

// ---- Kaiming (He et al. 2015) -----------------------------------------------------------------
// std = gain / sqrt(fan), with gain = calculate_gain(nonlinearity, a). The defaults match
// PyTorch (leaky_relu with a = 0, i.e. gain sqrt(2)); `a` is only read for LeakyReLU.
//   kaiming_uniform_: U(-bound, bound), bound = gain * sqrt(3 / fan)
//   kaiming_normal_:  N(0, std^2)
void kaiming_uniform_(const Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                      Nonlinearity nonlinearity = Nonlinearity::LeakyReLU, Generator* gen = nullptr);
void kaiming_normal_(const Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                     Nonlinearity nonlinearity = Nonlinearity::LeakyReLU, Generator* gen = nullptr);

// ---- Xavier / Glorot (Glorot & Bengio 2010) -------------------------------------------------------
//   xavier_uniform_: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))
//   xavier_normal_:  N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))
void xavier_uniform_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
void xavier_normal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);

}  // namespace ff::nn::init
