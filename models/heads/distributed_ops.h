// Differentiable collectives and the distributed softmax cross-entropy used by PartialFC.
// Every rank must call them in the same order with matching shapes (Communicator contract).
#pragma once

#include "framework/core/tensor.h"
#include "framework/distributed/communicator.h"

namespace ff::heads {

// x [n, ...] on each rank -> [world·n, ...] ordered by rank. Backward: the gradient is
// reduce-scattered (summed over ranks) back to the rows' owners, so each rank receives the
// gradient of the *sum* of the ranks' losses with respect to its own rows. (arcface_torch
// multiplies it by world_size afterwards only because DDP then *averages* backbone gradients;
// `grad_scale` does that here.)
Tensor all_gather_rows(distributed::Communicator& comm, const Tensor& x, double grad_scale = 1.0);

// Softmax cross-entropy over logits split by columns across ranks (model parallel):
// logits [B, S_r] are this rank's columns of a [B, Σ S_r] matrix; labels [B] (int64, host or
// device) hold the local column of each row's target, or -1 where another rank owns it (each
// row must be owned by exactly one rank). Returns the mean over the B rows, the same scalar on
// every rank: the row max and the sum of exponentials are all-reduced (Max, Sum), then the
// target logit (Sum). Backward (local, no communication): (softmax − onehot) / B · upstream.
// Saves the local softmax [B, S_r] for backward.
Tensor distributed_cross_entropy(distributed::Communicator& comm, const Tensor& logits, const Tensor& labels);

}  // namespace ff::heads
