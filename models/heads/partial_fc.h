// PartialFC: the margin-softmax classifier with class centres sharded across ranks and,
// optionally, sampled per step (Partial FC V2, An et al. CVPR 2022; arcface_torch
// partial_fc_v2.py). See docs/partial_fc.md for the algorithm, memory model and semantics.
//
//   heads::PartialFCOptions o;
//   o.num_classes = 93431; o.embedding_size = 512; o.sample_rate = 0.1; o.margin = heads::arcface();
//   auto pfc = std::make_shared<heads::PartialFC>(o);          // uses distributed::world()
//   heads::SparseRowSGD opt({ParamGroup(backbone->parameters()), ParamGroup(pfc->parameters())},
//                           optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4));
//   pfc->attach_to(opt);
//   for each step:  Tensor loss = pfc->forward(backbone->forward(images), labels);  // local batch
//                   loss.backward(); opt.step(); opt.zero_grad();
//
// Per step, on every rank: embeddings [b, D] and labels [b] are all-gathered (B = P·b rows);
// the shard's sampled centres W_s [S, D] (all positives of the batch + random negatives) give
// cosine logits [B, S] in float32 (float64 for float64 inputs) whatever the embedding dtype;
// combined_margin, then a cross-entropy whose softmax spans all ranks' columns. The loss is
// the mean over the global batch, the same value on every rank. Backward returns each rank the
// gradient of that loss w.r.t. its own b embeddings (reduce-scattered), and leaves the
// centres' gradient as rows of the shard (sparse_grad()), applied by SparseRowSGD. A data
// parallel backbone that *averages* its gradients over ranks (distributed::DataParallel does)
// needs scale_embedding_grad_by_world_size = true, so the average is the global loss's
// gradient (arcface_torch multiplies by world_size in AllGatherFunc.backward for this reason).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/distributed/communicator.h"
#include "framework/nn/module.h"
#include "models/heads/class_sampler.h"
#include "models/heads/margin_heads.h"
#include "models/heads/sparse_row_sgd.h"

namespace ff::heads {

struct PartialFCOptions {
  int64_t num_classes = 0;
  int64_t embedding_size = 512;
  double sample_rate = 1.0;      // in [0, 1]; 1 = model parallel without sampling
  MarginOptions margin = arcface();
  uint64_t seed = 2048;          // sampling keys (with the step) and the N(0, init_std) init
  double init_std = 0.01;
  DType dtype = DType::Float32;  // of the centres (float64 for exact tests)
  Device device;
  // Multiply the embeddings' gradient by the world size (see above); off: the exact gradient.
  bool scale_embedding_grad_by_world_size = false;
};

class PartialFC : public nn::Module {
 public:
  explicit PartialFC(const PartialFCOptions& options, distributed::Communicator& comm = distributed::world());
  std::string name() const override { return "PartialFC"; }

  // embeddings [b, D] (any floating dtype), labels [b] int64/int32 global class ids in
  // [0, num_classes); b must be equal on every rank. Returns the scalar loss. Each call is one
  // sampling step (step() advances).
  Tensor forward(const Tensor& embeddings, const Tensor& labels);
  Tensor forward(const Tensor& x) override;  // raises: labels are required

  // The gradient rows of the shard from every backward since the last clear_sparse_grad()
  // (several forward/backward passes accumulate, summing shared rows). Undefined when none.
  SparseRows sparse_grad() const;
  void clear_sparse_grad() { pending_.clear(); }
  // Routes the shard's gradient into `opt` (the shard must be in one of its groups).
  void attach_to(SparseRowSGD& opt);

  const PartialFCOptions& options() const { return options_; }
  const ClassShard& shard() const { return shard_; }
  int64_t num_sample() const { return num_sample_; }   // per step, before adding extra positives
  int64_t step() const { return step_; }
  void set_step(int64_t step) { step_ = step; }         // to resume a run's sampling sequence
  const ClassSample& last_sample() const { return last_sample_; }

  Tensor weight;  // this rank's class centres [shard().count, embedding_size], parameter "weight"

 private:
  struct Pending {
    std::vector<int64_t> rows;
    Tensor leaf;  // the sampled centres as a leaf; its grad holds the rows' gradient
  };

  PartialFCOptions options_;
  distributed::Communicator* comm_;
  ClassShard shard_;
  int64_t num_sample_ = 0;
  int64_t step_ = 0;
  ClassSample last_sample_;
  std::vector<Pending> pending_;
};

}  // namespace ff::heads
