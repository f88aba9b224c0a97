// What every face-recognition backbone shares: its options, the Backbone base class, and the
// precision split between a low-precision body and a float32 head.
//
// A backbone maps aligned face crops to embeddings:
//   input  x [N, 3, S, S] (S = options.input_size, 112 for the reference networks), float32
//          (any floating dtype: it is cast to the body's dtype on entry)
//   output   [N, embedding_size], in the head's dtype (float32 unless the caller converts the
//          whole model with Module::to)
//
// Precision follows arcface_torch's fp16 mode, where the body runs under autocast and the head
// runs in float32 (IResNet: `fc` + `features`; MobileFaceNet: `conv_sep` + `features`). FaceFlow
// has no autocast: set_body_dtype() stores the body's convolution and PReLU parameters in the
// chosen dtype, activations are cast with ff::cast at the body/head boundary, and the head stays
// float32. BatchNorm layers keep float32 parameters and running statistics in every precision
// (the batch_norm op normalises 16-bit inputs with float32 statistics, as cuDNN does), so the
// running statistics do not lose precision over a long run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/core/dtype.h"
#include "framework/core/tensor.h"
#include "framework/nn/module.h"

namespace ff {
class Generator;
}

namespace ff::models {

struct BackboneOptions {
  BackboneOptions& set_embedding_size(int64_t e) { embedding_size = e; return *this; }
  BackboneOptions& set_dropout(double p) { dropout = p; return *this; }
  BackboneOptions& set_body_dtype(DType d) { body_dtype = d; return *this; }
  BackboneOptions& set_width_divisor(int64_t d) { width_divisor = d; return *this; }
  BackboneOptions& set_input_size(int64_t s) { input_size = s; return *this; }
  BackboneOptions& set_generator(Generator* g) { generator = g; return *this; }

  // Length of the embedding (arcface_torch `num_features` / config `embedding_size`).
  int64_t embedding_size = 512;
  // IResNet only: dropout probability before `fc` (arcface_torch's train_v2 passes 0).
  // MobileFaceNet has no dropout layer, so a non-zero value is an error there.
  double dropout = 0.0;
  // Dtype of the body: float32, float16 or bfloat16. The head is always float32.
  DType body_dtype = DType::Float32;
  // Test-only shrinking. Every internal channel count (stage widths, group counts, MobileFaceNet's
  // 512-wide conv_sep/GDC) is divided by width_divisor, which must divide each of them; the 3
  // input channels and the embedding size are kept. 1 = the reference network.
  int64_t width_divisor = 1;
  // Side of the square input. The networks downsample 16x, so it must be a multiple of 16; the
  // head follows it (IResNet's fc has 512 * (S/16)^2 inputs, MobileFaceNet's GDC kernel is
  // S/16). The reference networks use 112 (head 7x7); smaller sizes exist for fast tests.
  int64_t input_size = 112;
  // Source of the initial weights and of the dropout mask (null: ff::default_generator()).
  // Must outlive the model when dropout > 0.
  Generator* generator = nullptr;
};

// Base class of IResNet and MobileFaceNet.
class Backbone : public nn::Module {
 public:
  // The factory name: "r50", "mbf", ...
  const std::string& network() const { return network_; }
  const BackboneOptions& options() const { return options_; }
  int64_t embedding_size() const { return options_.embedding_size; }
  int64_t input_size() const { return options_.input_size; }

  // Top-level child names that form the float32 head; everything else is the body.
  virtual std::vector<std::string> head_module_names() const = 0;

  // Stores the body's Conv2d/PReLU/Linear parameters in `dtype` (float32, float16 or bfloat16);
  // BatchNorm layers and the head stay float32. Gradients already present are cast too.
  void set_body_dtype(DType dtype);
  // The dtype activations are computed in inside the body (that of its parameters).
  DType body_dtype() const;

 protected:
  Backbone(std::string network, const BackboneOptions& options);

  // Checks x is [N, 3, S, S] with S = input_size(), naming the network.
  void check_input(const Tensor& x) const;

  // A reference channel count divided by options().width_divisor (which must divide it).
  int64_t channels(int64_t reference) const;

 private:
  std::string network_;
  BackboneOptions options_;
};

// x converted to `dtype` through the differentiable ff::cast; x itself when it already has it.
Tensor cast_if_needed(const Tensor& x, DType dtype);

}  // namespace ff::models
