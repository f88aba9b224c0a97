#include "data/ofrecord/ofrecord_writer.h"

#include <cstdio>
#include <exception>
#include <memory>

#include "data/common/file_io.h"
#include "data/common/little_endian.h"
#include "data/ofrecord/ofrecord_codec.h"
#include "framework/common/check.h"

namespace ff::data {

struct OFRecordWriter::Impl {
  std::string path;
  std::unique_ptr<BufferedAtomicWriter> out;
  int64_t records = 0;
  int uncaught_at_construction = std::uncaught_exceptions();
};

OFRecordWriter::OFRecordWriter(const std::string& path) : impl_(new Impl) {
  impl_->path = path;
  try {
    impl_->out = std::make_unique<BufferedAtomicWriter>(path);
  } catch (...) {
    delete impl_;
    throw;
  }
}

OFRecordWriter::~OFRecordWriter() {
  // Unwinding from an exception: drop the temporary file rather than publish a partial part.
  if (impl_->out && std::uncaught_exceptions() > impl_->uncaught_at_construction) impl_->out.reset();
  if (impl_->out) {
    try {
      close();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "faceflow: closing OFRecord part '%s' failed: %s\n", impl_->path.c_str(), e.what());
    }
  }
  delete impl_;
}

void OFRecordWriter::write(const FaceExample& example) {
  FF_CHECK(impl_->out != nullptr, "OFRecord writer for '{}': write after close()", impl_->path);
  FF_CHECK(!example.encoded_jpeg.empty(), "OFRecord writer for '{}': record {} has an empty image", impl_->path,
           impl_->records);
  const std::string body = serialize_face_example(example);
  // OneFlow frames each record with struct.pack("q", size): int64, little-endian, > 0.
  std::string frame;
  append_le_u64(frame, static_cast<uint64_t>(body.size()));
  impl_->out->write(frame);
  impl_->out->write(body);
  ++impl_->records;
}

void OFRecordWriter::close() {
  if (!impl_->out) return;
  auto out = std::move(impl_->out);
  out->commit();
}

int64_t OFRecordWriter::records_written() const { return impl_->records; }

std::vector<std::string> write_ofrecord_parts(const std::string& dir, const std::vector<FaceExample>& examples,
                                              int num_parts) {
  FF_CHECK(num_parts > 0, "write_ofrecord_parts('{}'): num_parts must be positive, got {}", dir, num_parts);
  ensure_directory(dir);
  const int64_t n = static_cast<int64_t>(examples.size());
  std::vector<std::string> paths;
  for (int p = 0; p < num_parts; ++p) {
    // Balanced contiguous split: part p gets [n*p/P, n*(p+1)/P), sizes differ by at most one.
    const int64_t begin = n * p / num_parts;
    const int64_t end = n * (p + 1) / num_parts;
    paths.push_back(dir + "/" + ofrecord_part_name(p));
    OFRecordWriter writer(paths.back());
    for (int64_t i = begin; i < end; ++i) writer.write(examples[static_cast<size_t>(i)]);
    writer.close();
  }
  return paths;
}

}  // namespace ff::data
