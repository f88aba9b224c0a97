// libFuzzer harness: MXNet RecordIO (data/recordio). The input is a .rec, optionally followed
// by "\nIDX:\n" and the text of an .idx; the dataset is opened with and without the index, in
// both bad-record modes, and every image is read.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <cstring>
#include <string>

#include "data/recordio/mx_face_dataset.h"
#include "framework/common/check.h"
#include "tests/data_formats/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ff::data;
  static const char kSeparator[] = "\nIDX:\n";
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t cut = input.find(kSeparator);
  const std::string rec = ff::fuzz::scratch_dir() + "/train.rec";
  const std::string idx = ff::fuzz::scratch_dir() + "/train.idx";
  const std::string rec_bytes = input.substr(0, cut);
  ff::fuzz::write_file(rec, reinterpret_cast<const uint8_t*>(rec_bytes.data()), rec_bytes.size());
  const bool has_idx = cut != std::string::npos;
  if (has_idx) {
    const std::string idx_bytes = input.substr(cut + std::strlen(kSeparator));
    ff::fuzz::write_file(idx, reinterpret_cast<const uint8_t*>(idx_bytes.data()), idx_bytes.size());
  }
  for (const bool use_idx : {false, true}) {
    if (use_idx && !has_idx) continue;
    ff::fuzz::read_every_record_in_both_modes([&](OnBadRecord mode) {
      MXFaceDatasetOptions opts;
      opts.idx_path = use_idx ? idx : "";
      opts.num_classes = 1000;
      opts.on_bad_record = mode;
      return std::make_unique<MXFaceDataset>(rec, opts);
    });
  }
  return 0;
}
