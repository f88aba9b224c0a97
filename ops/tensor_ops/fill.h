// Tensor factories that fill with constants or ranges.
#pragma once

#include "framework/core/tensor.h"

namespace ff {

Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device());
Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device());
Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device());
Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device device = Device());
// [start, end) with `step`, like numpy.arange; dtype defaults to int64.
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::Int64, Device device = Device());
Tensor arange(int64_t end, DType dtype = DType::Int64, Device device = Device());

Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);

// Host data -> tensor (copied). values.size() must equal the shape's numel.
Tensor tensor_from(const std::vector<float>& values, const Shape& shape, Device device = Device());
Tensor tensor_from(const std::vector<double>& values, const Shape& shape, Device device = Device());
Tensor tensor_from(const std::vector<int64_t>& values, const Shape& shape, Device device = Device());
// Tensor -> host vector (converted to T).
template <typename T>
std::vector<T> to_vector(const Tensor& t);

// Kernel signatures (CPU and CUDA register these).
using FillKernel = void (*)(const Tensor& out, double value);               // any strided out
using ArangeKernel = void (*)(const Tensor& out, double start, double step);  // contiguous out

}  // namespace ff
