// Batch normalisation layers, like torch.nn.BatchNorm1d / BatchNorm2d.
//
//   BatchNorm1d: x [N, C] or [N, C, L];  BatchNorm2d: x [N, C, H, W];  output has x's shape.
//   Parameters (affine): weight [C] = 1, bias [C] = 0.
//   Buffers (track_running_stats): running_mean [C] = 0, running_var [C] = 1,
//     num_batches_tracked (int64 scalar) = 0; all three are in state_dict().
//
// Training (is_training()): normalises with the batch statistics; with running stats, updates
//   them in place (running = (1 - momentum) running + momentum batch, unbiased variance) and
//   increments num_batches_tracked. momentum = nullopt uses the cumulative average
//   (momentum = 1 / num_batches_tracked). Needs more than one value per channel.
// Eval: normalises with the running stats; without running stats (track_running_stats = false)
//   it uses the batch statistics, as PyTorch does.
//
// arcface_torch uses eps 1e-5 and momentum 0.1 everywhere (the defaults); its embedding
// "features" BatchNorm1d has weight fixed at 1 and frozen (module.freeze("features.weight")).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "framework/nn/module.h"

namespace ff::nn {

struct BatchNormOptions {
  explicit BatchNormOptions(int64_t num_features) : num_features(num_features) {}

  BatchNormOptions& set_eps(double e) { eps = e; return *this; }
  BatchNormOptions& set_momentum(std::optional<double> m) { momentum = m; return *this; }
  BatchNormOptions& set_affine(bool a) { affine = a; return *this; }
  BatchNormOptions& set_track_running_stats(bool t) { track_running_stats = t; return *this; }

  int64_t num_features;                   // C
  double eps = 1e-5;                      // added to the variance
  std::optional<double> momentum = 0.1;   // nullopt: cumulative moving average
  bool affine = true;                     // learnable weight and bias
  bool track_running_stats = true;        // running_mean / running_var / num_batches_tracked
};

// Shared implementation; use BatchNorm1d or BatchNorm2d.
class BatchNormBase : public Module {
 public:
  // Running stats back to 0 / 1 and the counter to 0 (no-op without running stats).
  void reset_running_stats();
  // reset_running_stats() plus weight = 1, bias = 0.
  void reset_parameters();

  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) override;

  const BatchNormOptions& options() const { return options_; }

  Tensor weight;               // [C], undefined unless affine
  Tensor bias;                 // [C], undefined unless affine
  Tensor running_mean;         // [C], undefined unless track_running_stats
  Tensor running_var;          // [C], undefined unless track_running_stats
  Tensor num_batches_tracked;  // int64 [], undefined unless track_running_stats

 protected:
  explicit BatchNormBase(const BatchNormOptions& options);
  // Throws (naming the layer and the expected layout) unless x has an accepted rank.
  virtual void check_input_dim(const Tensor& x) const = 0;

 private:
  BatchNormOptions options_;
};

class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(const BatchNormOptions& options) : BatchNormBase(options) {}
  explicit BatchNorm1d(int64_t num_features) : BatchNorm1d(BatchNormOptions(num_features)) {}
  std::string name() const override { return "BatchNorm1d"; }

 protected:
  void check_input_dim(const Tensor& x) const override;
};

class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(const BatchNormOptions& options) : BatchNormBase(options) {}
  explicit BatchNorm2d(int64_t num_features) : BatchNorm2d(BatchNormOptions(num_features)) {}
  std::string name() const override { return "BatchNorm2d"; }

 protected:
  void check_input_dim(const Tensor& x) const override;
};

}  // namespace ff::nn
