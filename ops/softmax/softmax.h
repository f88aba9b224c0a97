// Softmax, log-softmax and cross-entropy (numerically stable: max-subtracted).
#pragma once

#include "framework/core/tensor.h"

namespace ff {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

enum class Reduction { None, Mean, Sum };

// logits [N, C], target int64/int32 [N] with class ids in [0, C) or ignore_index.
// loss_i = -log_softmax(logits)[i, target_i]; Mean averages over non-ignored rows.
// Out-of-range targets raise an error naming the row and the value.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction = Reduction::Mean,
                     int64_t ignore_index = -100);

}  // namespace ff
