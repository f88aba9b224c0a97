// libFuzzer harness: an OFRecord part file (data/ofrecord): framing, index building in both
// bad-record modes, and protobuf decoding of every record found.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "data/ofrecord/ofrecord_codec.h"
#include "data/ofrecord/ofrecord_dataset.h"
#include "framework/common/check.h"
#include "tests/data_formats/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ff::data;
  // The whole input as one record body, then as a part file.
  try {
    parse_face_example(data, size, RecordRef{"fuzz", 0, 0}, 1000);
  } catch (const ff::Error&) {
  }
  const std::string dir = ff::fuzz::scratch_dir() + "/ofrecord";
  std::filesystem::create_directories(dir);
  ff::fuzz::write_file(dir + "/part-00000", data, size);
  ff::fuzz::read_every_record_in_both_modes([&](OnBadRecord mode) {
    OFRecordDatasetOptions opts;
    opts.num_parts = 1;
    opts.num_classes = 1000;
    opts.on_bad_record = mode;
    return std::make_unique<OFRecordDataset>(dir, opts);
  });
  return 0;
}
