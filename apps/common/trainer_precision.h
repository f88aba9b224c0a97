// Float32 master weights for a backbone whose body is stored in float16/bfloat16
// (models::Backbone::set_body_dtype).
//
// FaceFlow has no autocast: in fp16/bf16 mode the body's parameters themselves are 16-bit, so
// their gradients are 16-bit too. Updating 16-bit weights in place loses every update smaller
// than half an ulp of the weight, and GradScaler must not unscale 16-bit gradients in place
// (the small values it protects would underflow). So the optimizer works on float32 copies:
//
//   MasterWeights master(backbone->named_parameters());
//   SGD opt(master.params(), ...);
//   ...backward...                      // 16-bit grads on the model's parameters
//   master.grads_to_master();           // float32 copies of them on the master parameters
//   scaler.unscale_(opt); clip_grad_norm_(master.params(), 5); opt.step();
//   master.master_to_model();           // rounded back into the model's 16-bit parameters
//   master.zero_grad();
//
// Float32 parameters are their own master (same tensor, nothing is copied), so fp32 training
// pays nothing. Shapes: master i has the shape of model parameter i.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/distributed/communicator.h"
#include "framework/io/state_dict.h"

namespace ff::apps {

class MasterWeights {
 public:
  explicit MasterWeights(const std::vector<std::pair<std::string, Tensor>>& model_params);

  // What the optimizer updates (float32 leaves), in model parameter order.
  const std::vector<Tensor>& params() const { return master_; }
  // The master values by parameter name (aliases, float32).
  StateDict named_params() const;
  int64_t num_low_precision() const { return low_precision_; }

  // Each master's .grad = its model parameter's .grad in float32 (undefined stays undefined).
  void grads_to_master();
  // Gradient accumulation over micro-batches: after each backward, adds every 16-bit model
  // gradient into its master's .grad in float32 and drops the model's, so the sum is formed in
  // float32 (arcface_torch's autocast keeps float32 parameters, whose .grad accumulates in
  // float32) instead of rounding every partial sum to 16 bits. Float32 parameters accumulate in
  // their own .grad as usual.
  void accumulate_grads();
  // Averages every master's .grad over the ranks (an undefined one counts as zeros), in one
  // float32 all-reduce: data parallel's job when the gradients were accumulated by
  // accumulate_grads() under DataParallel::no_sync(). Collective.
  void average_grads(distributed::Communicator& comm);
  // Copies the masters into the low-precision model parameters (rounding).
  void master_to_model();
  // Drops the gradients of the masters and of the model parameters.
  void zero_grad();
  // Sets the masters from `values` (float32, by name) and updates the model parameters.
  void load(const StateDict& values, const std::string& source);
  // Every rank's masters become rank `root`'s, and the model parameters their rounding. Data
  // parallel's start-up broadcast reaches only the model's (16-bit) parameters, not the separate
  // float32 masters the optimizer updates, so without this the replicas would start apart unless
  // every rank happened to initialise identically.
  void broadcast(distributed::Communicator& comm, int root);

 private:
  std::vector<std::string> names_;
  std::vector<Tensor> model_;
  std::vector<Tensor> master_;
  int64_t low_precision_ = 0;
};

}  // namespace ff::apps
