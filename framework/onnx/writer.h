// ONNX writer: OnnxModel -> onnx::ModelProto (Debian's libonnx-dev schema), checked with
// onnx::checker::check_model, then written atomically.
#pragma once

#include <string>

#include "framework/onnx/onnx_model.h"

namespace ff::onnx {

// IR version written for an opset: 7 for opsets 13-14, 8 for 15-17 (onnx/helper.py VERSION_TABLE).
int ir_version_for_opset(int opset);

// Serialised ModelProto. Runs the ONNX checker first; a model it rejects raises ff::Error with
// the checker's message.
std::string serialize_onnx(const OnnxModel& model);

// serialize_onnx() written to `path` (atomic replace). Returns the number of bytes written.
size_t write_onnx(const OnnxModel& model, const std::string& path);

}  // namespace ff::onnx
