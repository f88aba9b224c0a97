#include "apps/data_bench/disk_bench.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "data/loader/data_loader.h"
#include "data/ofrecord/ofrecord_codec.h"
#include "data/ofrecord/ofrecord_dataset.h"
#include "data/ofrecord/ofrecord_writer.h"
#include "data/recordio/image_record.h"
#include "data/recordio/mx_face_dataset.h"
#include "data/recordio/recordio.h"
#include "framework/common/check.h"

namespace ff::data {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_of(const std::function<void()>& body) {
  const auto t0 = Clock::now();
  body();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Drops the page cache of every regular file under `root` (POSIX_FADV_DONTNEED after an fsync,
// so that dirty pages are written and can go): the next read comes from the disk, as the first
// open of a dataset on a training node would. Only our own files are touched.
void evict_from_page_cache(const fs::path& root) {
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const int fd = ::open(entry.path().c_str(), O_RDONLY);
    FF_CHECK(fd >= 0, "disk bench: cannot open {}", entry.path().string());
    ::fsync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

void row(const std::string& what, double seconds, int64_t records, const std::string& note) {
  std::printf("| %-48s | %9.3f | %12.0f | %s |\n", what.c_str(), seconds, records / seconds, note.c_str());
}

}  // namespace

void run_disk_bench(const std::vector<FaceExample>& faces, const DiskBenchOptions& options) {
  FF_CHECK(!faces.empty() && options.records > 0 && options.parts > 0, "disk bench: nothing to write");
  const fs::path root = fs::path(options.dir) / "faceflow_data_bench";
  fs::remove_all(root);
  fs::create_directories(root / "ofrecord");
  const int64_t n = options.records;
  uint64_t jpeg_bytes = 0;
  for (int64_t i = 0; i < n; ++i) jpeg_bytes += faces[static_cast<size_t>(i) % faces.size()].encoded_jpeg.size();

  std::printf("\nDatasets on disk under %s: %lld records (the synthetic faces above, repeated), %.2f GiB of JPEG;\n"
              "\"cold\" rows first evict the files from the page cache (fsync + POSIX_FADV_DONTNEED).\n\n",
              root.c_str(), static_cast<long long>(n), jpeg_bytes / double(1u << 30));
  std::printf("| %-48s | %9s | %12s | %s |\n", "step", "seconds", "records/s", "note");
  std::printf("|%s|%s|%s|%s|\n", std::string(50, '-').c_str(), std::string(11, '-').c_str(),
              std::string(14, '-').c_str(), std::string(6, '-').c_str());

  // Writers: OFRecord parts (balanced, in order) and one train.rec + train.idx with flag-0 records.
  row("write OFRecord, " + std::to_string(options.parts) + " parts", seconds_of([&] {
        const int64_t per_part = (n + options.parts - 1) / options.parts;
        for (int p = 0; p < options.parts; ++p) {
          OFRecordWriter writer((root / "ofrecord" / ofrecord_part_name(p)).string());
          for (int64_t i = p * per_part; i < std::min(n, (p + 1) * per_part); ++i)
            writer.write(faces[static_cast<size_t>(i) % faces.size()]);
          writer.close();
        }
      }),
      n, "");
  const std::string rec = (root / "train.rec").string(), idx = (root / "train.idx").string();
  row("write train.rec + train.idx", seconds_of([&] {
        RecordIOWriter writer(rec, idx);
        for (int64_t i = 0; i < n; ++i) {
          const FaceExample& f = faces[static_cast<size_t>(i) % faces.size()];
          IRHeader header;
          header.label = static_cast<float>(f.label);
          header.id = static_cast<uint64_t>(i);
          writer.write(i, pack_image_record(header, {}, f.encoded_jpeg.data(), f.encoded_jpeg.size()));
        }
        writer.close();
      }),
      n, "");

  // Opening = building the index every rank holds (8 bytes of offset per record).
  for (bool cold : {true, false}) {
    const std::string temp = cold ? "cold" : "warm";
    if (cold) evict_from_page_cache(root);
    std::unique_ptr<OFRecordDataset> of;
    const double s = seconds_of([&] { of = std::make_unique<OFRecordDataset>((root / "ofrecord").string()); });
    FF_CHECK(of->size() == n, "disk bench: OFRecord dataset has {} records, wrote {}", of->size(), n);
    row("open OFRecord dir (scan length prefixes), " + temp, s, n,
        "");
  }
  for (bool with_idx : {true, false}) {
    for (bool cold : {true, false}) {
      if (cold) evict_from_page_cache(root);
      MXFaceDatasetOptions mo;
      if (with_idx) mo.idx_path = idx;
      std::unique_ptr<MXFaceDataset> mx;
      const double s = seconds_of([&] { mx = std::make_unique<MXFaceDataset>(rec, mo); });
      FF_CHECK(mx->size() == n, "disk bench: .rec dataset has {} records, wrote {}", mx->size(), n);
      row(std::string("open train.rec ") + (with_idx ? "with train.idx" : "without .idx (scan)") + ", " +
              (cold ? "cold" : "warm"),
          s, n, "");
    }
  }

  // One epoch of the loader reading from the files (random order across all parts).
  for (bool cold : {true, false}) {
    if (cold) evict_from_page_cache(root);
    auto source = std::make_shared<OFRecordDataset>((root / "ofrecord").string());
    LoaderOptions lo;
    lo.batch_size = 128;
    lo.num_workers = options.workers;
    DataLoader loader(source, lo);
    int64_t images = 0;
    const double s = seconds_of([&] {
      loader.start_epoch(0);
      Batch b;
      while (loader.next(b)) images += b.images.size(0);
    });
    row(fmt::format("DataLoader epoch from OFRecord, {} workers, {}", options.workers, cold ? "cold" : "warm"), s,
        images, "fp32, shuffled");
  }
  if (!options.keep) fs::remove_all(root);
}

}  // namespace ff::data
