#include "apps/onnx_export/npy.h"

#include "framework/common/check.h"
#include "framework/io/atomic_file.h"

namespace ff::apps {

void write_npy_float32(const std::string& path, const Tensor& t) {
  const Tensor data = t.to(Device()).to(DType::Float32).contiguous();
  std::string shape;
  for (int64_t d : data.sizes()) shape += std::to_string(d) + ", ";
  if (data.dim() > 1) shape.resize(shape.size() - 2);  // "(2, 512)"; a 1-d shape keeps "(5,)"
  else if (data.dim() == 1) shape.resize(shape.size() - 1);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
  // magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of
  // 64 and ended by '\n'.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  FF_CHECK(header.size() < 65536, "npy: header too long for {}", path);
  std::string bytes = "\x93NUMPY";
  bytes.push_back('\x01');
  bytes.push_back('\x00');
  bytes.push_back(static_cast<char>(header.size() & 0xff));
  bytes.push_back(static_cast<char>(header.size() >> 8));
  bytes += header;
  AtomicFileWriter out(path);
  out.write(bytes.data(), bytes.size());
  out.write(data.raw_data(), static_cast<size_t>(data.numel()) * sizeof(float));
  out.commit();
}

}  // namespace ff::apps
