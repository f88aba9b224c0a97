// The data pipeline against files on disk (data_bench --disk-records N): writing OFRecord parts
// and a train.rec/.idx, opening them (the per-rank offset index every reader builds first, with
// the files in and out of the page cache), and a loader epoch reading from the parts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/ofrecord/ofrecord_writer.h"

namespace ff::data {

struct DiskBenchOptions {
  int64_t records = 0;  // written by repeating `faces`
  int parts = 16;
  int workers = 2;
  std::string dir = "/tmp";  // the datasets go to <dir>/faceflow_data_bench
  bool keep = false;         // leave the files there afterwards
};

// Prints a markdown table of seconds and records/s per step.
void run_disk_bench(const std::vector<FaceExample>& faces, const DiskBenchOptions& options);

}  // namespace ff::data
