// Softmax, log-softmax and cross-entropy (numerically stable: max-subtracted).
#pragma once

#include "framework/core/tensor.h"

namespace ff {

// Along `dim` (negative dims count from the end), any shape and strides. A row holding NaN or
// +inf, or only -inf, comes out NaN (like PyTorch). Differentiable.
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

enum class Reduction { None, Mean, Sum };

// logits [N, C], target int64/int32 [N] with class ids in [0, C) or ignore_index.
// loss_i = -log_softmax(logits)[i, target_i]; Mean averages over non-ignored rows.
// Out-of-range targets raise an error naming the row and the value.
// Ignored rows contribute 0 (Reduction::None gives 0 for them); Mean over a batch whose rows
// are all ignored is 0/0 = NaN, as in PyTorch. Non-finite logits are not errors: a NaN or
// +inf logit makes its row's loss NaN and a -inf target logit makes it +inf, and Mean/Sum
// carry that through, so a diverging run shows up in the loss. Differentiable in logits.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction = Reduction::Mean,
                     int64_t ignore_index = -100);

// Kernels, keyed by x's (logits') dtype. All tensors contiguous; `dim` already normalised.
// "softmax" / "log_softmax" forward: out = (log_)softmax(x) along dim.
using SoftmaxKernel = void (*)(const Tensor& out, const Tensor& x, int64_t dim, bool log);
// "softmax_backward" / "log_softmax_backward" from the forward output y:
//   softmax:     grad_x = y * (grad_out - sum(grad_out * y))
//   log_softmax: grad_x = grad_out - exp(y) * sum(grad_out)
using SoftmaxBackwardKernel = void (*)(const Tensor& grad_x, const Tensor& grad_out, const Tensor& out,
                                       int64_t dim, bool log);
// "cross_entropy": out is [N] (None) or [] (Mean/Sum) in logits' dtype; row_lse [N] receives
// each row's log-sum-exp in float32 (float64 for float64 logits). Throws, naming the row,
// for a target outside [0, C) that is not ignore_index.
using CrossEntropyKernel = void (*)(const Tensor& out, const Tensor& row_lse, const Tensor& logits,
                                    const Tensor& target, Reduction reduction, int64_t ignore_index);
// "cross_entropy_backward": grad_logits [N, C] = g_i * (softmax_ij - [j == target_i]),
// g_i = grad_out[i] (None), grad_out (Sum) or grad_out / #non-ignored rows (Mean); 0 on ignored rows.
using CrossEntropyBackwardKernel = void (*)(const Tensor& grad_logits, const Tensor& grad_out,
                                            const Tensor& logits, const Tensor& target, const Tensor& row_lse,
                                            Reduction reduction, int64_t ignore_index);

}  // namespace ff
