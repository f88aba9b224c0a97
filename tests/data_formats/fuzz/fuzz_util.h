// Shared by the libFuzzer harnesses: a per-process scratch directory and a file writer, since
// the dataset readers take paths (they pread real files, as in training).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "data/common/bad_records.h"
#include "data/ofrecord/ofrecord_writer.h"
#include "framework/common/check.h"

namespace ff::fuzz {

inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const std::string d = (std::filesystem::temp_directory_path() / ("ff_fuzz_" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

// Opens a dataset in both bad-record modes and reads every record through try_get and the first
// through get(), as the loader would. ff::Error is the expected outcome of bad input; anything
// else (another exception, a crash, a hang, a sanitizer report) is a finding.
// `open(mode)` returns the dataset (e.g. a std::unique_ptr) with its options set for `mode`.
template <typename Open>
void read_every_record_in_both_modes(Open&& open) {
  for (ff::data::OnBadRecord mode : {ff::data::OnBadRecord::Throw, ff::data::OnBadRecord::SkipAndCount}) {
    try {
      const auto ds = open(mode);
      for (int64_t i = 0; i < ds->size(); ++i) {
        ff::data::FaceExample e;
        ds->try_get(i, e);
      }
      if (ds->size() > 0) ds->get(0);
    } catch (const ff::Error&) {
    }
  }
}

}  // namespace ff::fuzz
