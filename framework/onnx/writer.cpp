#include "framework/onnx/writer.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "framework/common/check.h"
#include "framework/io/atomic_file.h"

namespace ff::onnx {

namespace {

void set_attribute(::onnx::AttributeProto* a, const std::string& name, const graph::AttrValue& v) {
  a->set_name(name);
  if (const auto* i = std::get_if<int64_t>(&v)) {
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(*i);
  } else if (const auto* f = std::get_if<double>(&v)) {
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(static_cast<float>(*f));
  } else if (const auto* is = std::get_if<std::vector<int64_t>>(&v)) {
    a->set_type(::onnx::AttributeProto::INTS);
    for (int64_t x : *is) a->add_ints(x);
  } else if (const auto* fs = std::get_if<std::vector<double>>(&v)) {
    a->set_type(::onnx::AttributeProto::FLOATS);
    for (double x : *fs) a->add_floats(static_cast<float>(x));
  } else {
    a->set_type(::onnx::AttributeProto::STRING);
    a->set_s(std::get<std::string>(v));
  }
}

void set_value_info(::onnx::ValueInfoProto* vi, const OnnxValue& v) {
  vi->set_name(v.name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx_data_type(v.dtype));
  auto* shape = tt->mutable_shape();
  for (size_t i = 0; i < v.shape.size(); ++i) {
    auto* d = shape->add_dim();
    if (i < v.dim_params.size() && !v.dim_params[i].empty()) {
      d->set_dim_param(v.dim_params[i]);
    } else {
      d->set_dim_value(v.shape[i]);
    }
  }
}

// raw_data: fixed-width little-endian values (x86 is little-endian; bool is one byte each).
void set_tensor(::onnx::TensorProto* t, const std::string& name, const Tensor& value) {
  const Tensor c = value.contiguous();
  t->set_name(name);
  t->set_data_type(onnx_data_type(c.dtype()));
  for (int64_t d : c.sizes()) t->add_dims(d);
  t->set_raw_data(static_cast<const char*>(c.raw_data()), static_cast<size_t>(c.numel()) * c.element_size());
}

}  // namespace

int ir_version_for_opset(int opset) {
  FF_CHECK(opset >= kMinOpset && opset <= kMaxOpset, "ONNX: opset {} not supported (use {}..{})", opset, kMinOpset,
           kMaxOpset);
  return opset <= 14 ? 7 : 8;
}

std::string serialize_onnx(const OnnxModel& m) {
  ::onnx::ModelProto model;
  model.set_ir_version(ir_version_for_opset(m.opset));
  model.set_producer_name("faceflow");
  model.set_producer_version("0.1.0");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(m.opset);
  auto* g = model.mutable_graph();
  g->set_name(m.graph_name);
  for (const auto& v : m.inputs) set_value_info(g->add_input(), v);
  for (const auto& v : m.outputs) set_value_info(g->add_output(), v);
  for (const auto& [name, t] : m.initializers) set_tensor(g->add_initializer(), name, t);
  for (const auto& n : m.nodes) {
    auto* node = g->add_node();
    node->set_name(n.name);
    node->set_op_type(n.op_type);
    for (const auto& in : n.inputs) node->add_input(in);
    for (const auto& out : n.outputs) node->add_output(out);
    for (const auto& [key, value] : n.attrs) set_attribute(node->add_attribute(), key, value);
  }
  try {
    ::onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    FF_THROW("ONNX checker rejected the exported model (opset {}): {}", m.opset, e.what());
  }
  std::string bytes;
  FF_CHECK(model.SerializeToString(&bytes), "ONNX: could not serialise the model (opset {})", m.opset);
  return bytes;
}

size_t write_onnx(const OnnxModel& model, const std::string& path) {
  const std::string bytes = serialize_onnx(model);
  AtomicFileWriter out(path);
  out.write(bytes.data(), bytes.size());
  out.commit();
  return bytes.size();
}

}  // namespace ff::onnx
