// Minimal .npy (NumPy format 1.0) writer for float32 tensors: the reference input and output
// that onnx_export --dump-reference writes for tests/onnx/check_with_onnxruntime.py.
#pragma once

#include <string>

#include "framework/core/tensor.h"

namespace ff::apps {

// Writes `t` (any floating dtype, converted to float32, C order) to `path`. Throws ff::Error
// naming the path on I/O failure.
void write_npy_float32(const std::string& path, const Tensor& t);

}  // namespace ff::apps
