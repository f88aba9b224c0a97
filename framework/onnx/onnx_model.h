// An ONNX model as plain structs, between the export rules (rules.h) and the protobuf writer
// (writer.h): the rules never touch protobuf, so they can be tested and listed without it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "framework/core/dtype.h"
#include "framework/core/shape.h"
#include "framework/core/tensor.h"
#include "framework/graph/graph.h"

namespace ff::onnx {

inline constexpr int kMinOpset = 13;
inline constexpr int kMaxOpset = 17;

struct OnnxNode {
  std::string name;
  std::string op_type;               // e.g. "Conv"
  std::vector<std::string> inputs;   // "" = omitted optional input
  std::vector<std::string> outputs;
  graph::Attributes attrs;           // int -> INT, double -> FLOAT, lists -> INTS/FLOATS, string -> STRING
};

struct OnnxValue {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  std::vector<std::string> dim_params;  // per dim: "" (fixed size) or a symbolic name like "N"
};

struct OnnxModel {
  int opset = kMaxOpset;
  std::vector<OnnxValue> inputs;
  std::vector<OnnxValue> outputs;
  std::vector<OnnxNode> nodes;
  std::map<std::string, Tensor> initializers;  // CPU tensors
  std::string graph_name = "faceflow";

  std::map<std::string, int> op_histogram() const;
  int64_t initializer_bytes() const;
};

// TensorProto.DataType code of a FaceFlow dtype (FLOAT 1, UINT8 2, INT32 6, INT64 7, BOOL 9,
// FLOAT16 10, DOUBLE 11, BFLOAT16 16).
int onnx_data_type(DType dtype);

}  // namespace ff::onnx
