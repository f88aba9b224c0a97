// A model that uses every ONNX-exportable op, for checking the export rules numerically
// (tests/onnx/op_zoo_test.cpp replays it; op_zoo_dump + check_with_onnxruntime.py run it in
// onnxruntime). x: float32 [2, 4, 6, 6] -> float32 [2, K], every partial result flattened
// and concatenated. Constants (weights, index tensors) come from a fixed seed.
#pragma once

#include <vector>

#include "framework/core/tensor.h"
#include "ops/activation/activation.h"
#include "ops/conv/conv2d.h"
#include "ops/elementwise/binary.h"
#include "ops/elementwise/unary.h"
#include "ops/index/index.h"
#include "ops/linalg/matmul.h"
#include "ops/norm/batch_norm.h"
#include "ops/norm/l2_normalize.h"
#include "ops/pool/pool.h"
#include "ops/reduce/reduce.h"
#include "ops/shape/shape.h"
#include "ops/softmax/softmax.h"
#include "ops/tensor_ops/copy.h"
#include "ops/tensor_ops/fill.h"
#include "ops/tensor_ops/random.h"

namespace ff::onnx::testing {

struct OpZooConstants {
  Tensor conv_w, conv_b, bn_w, bn_b, bn_mean, bn_var, prelu_w, fc_w, fc_b, mat;
  Tensor rows, gather_idx, scatter_idx, labels;
  explicit OpZooConstants(uint64_t seed = 11) {
    Generator g(seed);
    conv_w = randn({4, 4, 3, 3}, DType::Float32, Device(), &g);
    conv_b = randn({4}, DType::Float32, Device(), &g);
    bn_w = uniform({4}, 0.5, 1.5, DType::Float32, Device(), &g);
    bn_b = uniform({4}, -0.3, 0.3, DType::Float32, Device(), &g);
    bn_mean = uniform({4}, -0.5, 0.5, DType::Float32, Device(), &g);
    bn_var = uniform({4}, 0.5, 2.0, DType::Float32, Device(), &g);
    prelu_w = uniform({4}, 0.1, 0.4, DType::Float32, Device(), &g);
    fc_w = randn({5, 36}, DType::Float32, Device(), &g);
    fc_b = randn({5}, DType::Float32, Device(), &g);
    mat = randn({5, 3}, DType::Float32, Device(), &g);
    rows = Tensor::empty({3}, DType::Int64);
    for (int64_t i = 0; i < 3; ++i) rows.data<int64_t>()[i] = (2 - i) * 2;  // {4, 2, 0}
    gather_idx = Tensor::empty({2, 3}, DType::Int64);
    scatter_idx = Tensor::empty({2, 3}, DType::Int64);
    for (int64_t i = 0; i < 6; ++i) {
      gather_idx.data<int64_t>()[i] = (i * 3) % 5;
      scatter_idx.data<int64_t>()[i] = i % 2;  // duplicates: scatter_add must accumulate
    }
    labels = Tensor::empty({2}, DType::Int64);
    labels.data<int64_t>()[0] = 3;
    labels.data<int64_t>()[1] = 1;
  }
};

inline Tensor op_zoo(const Tensor& x, const OpZooConstants& k) {
  std::vector<Tensor> parts;
  auto keep = [&](const Tensor& t) { parts.push_back(cast(t, DType::Float32).reshape({2, -1})); };

  Conv2dParams cp;
  cp.padding = {1, 1};
  const Tensor c = conv2d(x, k.conv_w, k.conv_b, cp);
  const Tensor bn = batch_norm(c, k.bn_w, k.bn_b, k.bn_mean, k.bn_var, /*training=*/false);
  const Tensor p = prelu(bn, k.prelu_w);
  keep(relu(dropout(bn, 0.5, /*training=*/false)));
  Pool2dParams mp;
  mp.kernel = {2, 2};
  keep(max_pool2d(p, mp));
  Pool2dParams ap;
  ap.kernel = {3, 3};
  ap.stride = {2, 2};
  ap.padding = {1, 1};
  keep(avg_pool2d(p, ap, /*count_include_pad=*/false));
  keep(global_avg_pool2d(p));

  const Tensor plane = p.select(1, 2).flatten(1);  // [2, 36]
  const Tensor fc = linear(plane, k.fc_w, k.fc_b);  // [2, 5]
  keep(matmul(fc, k.mat));
  keep(softmax(fc, 1));
  keep(log_softmax(fc, -1));
  keep(l2_normalize(fc, 1));

  const Tensor a = fc, b = fc.slice(1, 1, 5).slice(1, 0, 1).expand({2, 5});  // [2, 5] and a broadcast column
  keep(add(a, b));
  keep(sub(a, 0.5));
  keep(mul(a, b));
  keep(div(a, add(abs(b), 1.0)));
  keep(maximum(a, b));
  keep(minimum(a, b));
  keep(pow(add(abs(a), 1.0), sin(b)));
  for (const Tensor& t : {eq(a, a), ne(a, b), lt(a, b), le(a, b), gt(a, b), ge(a, b)}) keep(t);
  keep(neg(a));
  keep(exp(mul(a, 0.1)));
  keep(log(add(abs(a), 1.0)));
  keep(sqrt(abs(a)));
  keep(rsqrt(add(abs(a), 1.0)));
  keep(acos(clamp(a, -0.9, 0.9)));
  keep(cos(a));
  keep(pow(a, 2.0));
  keep(clamp(a, std::nullopt, 0.3));
  keep(where(gt(a, b), a, b));

  keep(sum(c, {2, 3}));
  keep(mean(c, {1}, /*keepdim=*/true));
  keep(max(c, {3}));
  keep(min(c, {2, 3}));
  keep(argmax(fc, 1));
  keep(argmin(fc, 1, /*keepdim=*/true));

  keep(index_select(fc, 1, k.rows));
  keep(gather(fc, 1, k.gather_idx));
  keep(scatter_add(fc, 1, k.scatter_idx, ones({2, 3})));
  keep(one_hot(k.labels, 4));

  const auto halves = split(fc, std::vector<int64_t>{2, 3}, 1);
  keep(concat({halves[1], halves[0]}, 1));
  keep(stack({halves[0], halves[0]}, 2));
  keep(c.permute({0, 2, 3, 1}).reshape({2, 6, 24}).slice(2, 1, 20, 3));
  keep(cast(cast(fc, DType::Float64), DType::Float32));
  return concat(parts, 1);
}

}  // namespace ff::onnx::testing
