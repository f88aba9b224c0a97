#include "apps/convert_dataset/commands.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <random>
#include <vector>

#include "data/common/file_io.h"
#include "data/image_folder/image_folder_dataset.h"
#include "data/ofrecord/ofrecord_codec.h"
#include "data/ofrecord/ofrecord_dataset.h"
#include "data/recordio/mx_face_dataset.h"
#include "data/verification/pickle_machine.h"
#include "data/verification/pickle_opcodes.h"
#include "data/verification/verification_bin.h"
#include "framework/common/check.h"

namespace ff::apps {

namespace fs = std::filesystem;
using namespace ff::data;

std::string Args::get(const std::string& name) const {
  const auto it = values.find(name);
  if (it == values.end()) throw UsageError(fmt::format("missing required option --{}", name));
  return it->second;
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  return has(name) ? get(name) : fallback;
}

int64_t Args::get_int(const std::string& name, int64_t fallback, int64_t min_value) const {
  if (!has(name)) return fallback;
  const std::string text = get(name);
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) throw UsageError(fmt::format("--{} expects an integer, got '{}'", name, text));
  if (v < min_value) throw UsageError(fmt::format("--{} must be >= {}, got {}", name, min_value, v));
  return v;
}

namespace {

// Deterministic on every platform: mt19937_64 is fully specified and the Fisher-Yates step
// uses plain modulo (std::shuffle's algorithm is implementation-defined).
std::vector<int64_t> record_order(int64_t n, bool shuffle, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  if (shuffle) {
    std::mt19937_64 rng(seed);
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[static_cast<size_t>(i)], order[rng() % static_cast<uint64_t>(i + 1)]);
  }
  return order;
}

// The part files already in `out` (part-*), sorted.
std::vector<fs::path> existing_parts(const std::string& out) {
  std::vector<fs::path> parts;
  for (const auto& entry : fs::directory_iterator(out)) {
    if (entry.path().filename().string().rfind("part-", 0) == 0) parts.push_back(entry.path());
  }
  std::sort(parts.begin(), parts.end());
  return parts;
}

// Refuses an output directory that already holds parts unless --overwrite was given. Nothing is
// deleted here: the old parts go only once the new ones are complete (write_parts).
void check_output_dir(const std::string& out, bool overwrite) {
  ensure_directory(out);
  const std::vector<fs::path> parts = existing_parts(out);
  FF_CHECK(parts.empty() || overwrite,
           "output directory '{}' already holds part files (e.g. {}); pass --overwrite to replace them", out,
           parts.empty() ? "" : parts.front().filename().string());
}

// Streams `n` records (read by `try_get`, which returns false for a skipped bad record) into
// `num_parts` balanced part files. Returns the number written. The parts are written into a
// staging directory inside `out` and moved into place only when all of them are complete, so a
// conversion that fails (a bad record without --skip-bad, a full disk) leaves `out` as it was,
// old parts included; the staging directory is removed either way.
int64_t write_parts(const std::string& out, int64_t n, int num_parts, bool shuffle, uint64_t seed,
                    const std::function<bool(int64_t, FaceExample&)>& try_get, int32_t* max_label) {
  const fs::path staging = fs::path(out) / ".convert_dataset.staging";
  fs::remove_all(staging);
  fs::create_directories(staging);
  struct RemoveStaging {
    fs::path dir;
    ~RemoveStaging() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{staging};

  const std::vector<int64_t> order = record_order(n, shuffle, seed);
  int64_t written = 0;
  *max_label = -1;
  for (int p = 0; p < num_parts; ++p) {
    OFRecordWriter writer((staging / ofrecord_part_name(p)).string());
    const int64_t begin = n * p / num_parts, end = n * (p + 1) / num_parts;
    for (int64_t i = begin; i < end; ++i) {
      FaceExample e;
      if (!try_get(order[static_cast<size_t>(i)], e)) continue;
      writer.write(e);
      *max_label = std::max(*max_label, e.label);
      if (++written % 100000 == 0) std::fprintf(stderr, "convert_dataset: %lld records\n", static_cast<long long>(written));
    }
    writer.close();
  }
  for (const fs::path& old : existing_parts(out)) fs::remove(old);
  for (int p = 0; p < num_parts; ++p) fs::rename(staging / ofrecord_part_name(p), fs::path(out) / ofrecord_part_name(p));
  return written;
}

void print_conversion_summary(const std::string& out, int64_t written, int num_parts, int32_t max_label,
                              const BadRecordLog& bad) {
  std::printf("wrote %lld records into %d parts in %s (part-00000 ... %s)\n", static_cast<long long>(written),
              num_parts, out.c_str(), ofrecord_part_name(num_parts - 1).c_str());
  std::printf("labels: 0 .. %d (num_classes >= %d)\n", max_label, max_label + 1);
  std::printf("bad records: %s\n", bad.summary().c_str());
}

}  // namespace

int rec_to_ofrecord(const Args& args) {
  MXFaceDatasetOptions opts;
  opts.idx_path = args.get_or("idx", "");
  opts.num_classes = args.get_int("num-classes", -1, 1);
  opts.on_bad_record = args.flag("skip-bad") ? OnBadRecord::SkipAndCount : OnBadRecord::Throw;
  const std::string out = args.get("out");
  const int num_parts = static_cast<int>(args.get_int("parts", 1, 1));
  MXFaceDataset ds(args.get("rec"), opts);
  const std::string layout = ds.has_header_record()
                                 ? fmt::format("header record: {} identities", ds.header_num_identities())
                                 : "no header record: every key is an image";
  std::printf("%s: %lld images (%s)\n", ds.rec_path().c_str(), static_cast<long long>(ds.size()), layout.c_str());
  check_output_dir(out, args.flag("overwrite"));
  int32_t max_label = -1;
  const int64_t written =
      write_parts(out, ds.size(), num_parts, args.flag("shuffle"), static_cast<uint64_t>(args.get_int("seed", 0, 0)),
                  [&](int64_t i, FaceExample& e) { return ds.try_get(i, e); }, &max_label);
  print_conversion_summary(out, written, num_parts, max_label, ds.bad_records());
  return 0;
}

int folder_to_ofrecord(const Args& args) {
  ImageFolderOptions opts;
  opts.on_bad_record = args.flag("skip-bad") ? OnBadRecord::SkipAndCount : OnBadRecord::Throw;
  const std::string out = args.get("out");
  const int num_parts = static_cast<int>(args.get_int("parts", 1, 1));
  ImageFolderDataset ds(args.get("root"), opts);
  std::printf("%s: %lld images in %lld identity folders (%lld empty)\n", args.get("root").c_str(),
              static_cast<long long>(ds.size()), static_cast<long long>(ds.num_identities()),
              static_cast<long long>(ds.empty_identities()));
  check_output_dir(out, args.flag("overwrite"));
  int32_t max_label = -1;
  const int64_t written =
      write_parts(out, ds.size(), num_parts, args.flag("shuffle"), static_cast<uint64_t>(args.get_int("seed", 0, 0)),
                  [&](int64_t i, FaceExample& e) { return ds.try_get(i, e); }, &max_label);
  print_conversion_summary(out, written, num_parts, max_label, ds.bad_records());
  std::printf("num_classes: %lld (identity folders, empty ones included)\n",
              static_cast<long long>(ds.num_identities()));
  return 0;
}

int inspect_bin(const Args& args) {
  const std::string path = args.get("bin");
  const VerificationSet set = read_verification_bin(path);
  const int64_t same = std::count(set.issame.begin(), set.issame.end(), true);
  const int64_t pairs = static_cast<int64_t>(set.issame.size());
  size_t min_size = SIZE_MAX, max_size = 0, non_jpeg = 0;
  for (const auto& img : set.images) {
    min_size = std::min(min_size, img.size());
    max_size = std::max(max_size, img.size());
    non_jpeg += !(img.size() >= 2 && img[0] == 0xFF && img[1] == 0xD8);
  }
  std::printf("%s: %lld images, %lld pairs (%lld same, %lld different)\n", path.c_str(),
              static_cast<long long>(set.images.size()), static_cast<long long>(pairs), static_cast<long long>(same),
              static_cast<long long>(pairs - same));
  if (!set.images.empty()) {
    std::printf("image bytes: %zu .. %zu; %zu not starting with a JPEG marker\n", min_size, max_size, non_jpeg);
  }
  const int64_t dump = args.get_int("dump", 0, 0);
  if (dump > 0) {
    const std::string out = args.get("out");
    ensure_directory(out);
    const int64_t n = std::min<int64_t>(dump, static_cast<int64_t>(set.images.size()));
    for (int64_t i = 0; i < n; ++i) {
      // The elements are already encoded JPEGs: written unchanged.
      const std::string file = fmt::format("{}/{:05d}.jpg", out, i);
      BufferedAtomicWriter writer(file);
      writer.write(set.images[static_cast<size_t>(i)].data(), set.images[static_cast<size_t>(i)].size());
      writer.commit();
    }
    std::printf("wrote images 0 .. %lld to %s/NNNNN.jpg (pair i = images 2i and 2i+1)\n",
                static_cast<long long>(n - 1), out.c_str());
  }
  return 0;
}

int inspect_ofrecord(const Args& args) {
  OFRecordDatasetOptions opts;
  opts.num_parts = static_cast<int>(args.get_int("parts", 0, 0));
  opts.part_name_suffix_length = static_cast<int>(args.get_int("suffix-length", 5, -1));
  opts.num_classes = args.get_int("num-classes", -1, 1);
  opts.on_bad_record = OnBadRecord::SkipAndCount;  // inspection reports every bad record instead of stopping
  OFRecordDataset ds(args.get("dir"), opts);
  std::printf("%s: %d parts, %lld records\n", args.get("dir").c_str(), ds.num_parts(),
              static_cast<long long>(ds.size()));
  int32_t min_label = INT32_MAX, max_label = -1;
  for (int64_t i = 0; i < ds.size(); ++i) {
    FaceExample e;
    if (!ds.try_get(i, e)) continue;
    min_label = std::min(min_label, e.label);
    max_label = std::max(max_label, e.label);
  }
  if (max_label >= 0) std::printf("labels: %d .. %d\n", min_label, max_label);
  std::printf("bad records: %s\n", ds.bad_records().summary().c_str());
  return ds.bad_records().count() == 0 ? 0 : 1;
}

int inspect_rec(const Args& args) {
  MXFaceDatasetOptions opts;
  opts.idx_path = args.get_or("idx", "");
  opts.num_classes = args.get_int("num-classes", -1, 1);
  opts.on_bad_record = OnBadRecord::SkipAndCount;
  MXFaceDataset ds(args.get("rec"), opts);
  std::printf("%s: %lld images\n", ds.rec_path().c_str(), static_cast<long long>(ds.size()));
  if (ds.has_header_record()) {
    std::printf("header record 0: label [%s], %lld identities\n", fmt::format("{}", fmt::join(ds.header_labels(), ", ")).c_str(),
                static_cast<long long>(ds.header_num_identities()));
  } else {
    std::printf("no header record: every key is an image\n");
  }
  const int64_t check = std::min<int64_t>(ds.size(), args.get_int("check", ds.size(), 0));
  int32_t max_label = -1;
  for (int64_t i = 0; i < check; ++i) {
    FaceExample e;
    if (ds.try_get(i, e)) max_label = std::max(max_label, e.label);
  }
  std::printf("read %lld images; labels up to %d\n", static_cast<long long>(check), max_label);
  std::printf("bad records: %s\n", ds.bad_records().summary().c_str());
  return ds.bad_records().count() == 0 ? 0 : 1;
}

int dump_pickle(const Args& args) {
  const std::string path = args.get("bin");
  const std::vector<uint8_t> bytes = read_whole_file(path);
  const int64_t max_lines = args.get_int("max", 200, 1);
  int64_t lines = 0;
  PickleMachine machine(bytes.data(), bytes.size(), path);
  machine.set_trace([&](uint64_t offset, uint8_t op, const std::string& note) {
    if (lines++ < max_lines) {
      std::printf("%10llu  %-16s 0x%02X  %s\n", static_cast<unsigned long long>(offset), pickle_op::opcode_name(op), op,
                  note.c_str());
    }
  });
  machine.run();
  if (lines > max_lines) std::printf("... %lld more opcodes\n", static_cast<long long>(lines - max_lines));
  return 0;
}

}  // namespace ff::apps
