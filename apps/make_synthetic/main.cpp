// make_synthetic: writes the synthetic-identity dataset (docs/data.md, "Synthetic dataset").
//
//   build/apps/make_synthetic --out /data/synth                     1000 ids x 20 images, 3 val sets
//   build/apps/make_synthetic --out /tmp/s --identities 100 --images 10 --val-pairs 600
//   build/apps/make_synthetic --preview grid.jpg --identities 8 --images 8
//                                      a JPEG grid: one identity per row, its images across
//                                      (a FILE.ppm name writes the exact pixels instead)
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "apps/common/command_line.h"
#include "data/decode/jpeg.h"
#include "data/synthetic/synthetic_dataset.h"
#include "framework/common/check.h"

namespace {

struct Options {
  std::string out;
  std::string preview;
  ff::data::SyntheticOptions synthetic;
};

constexpr ff::apps::CommandLineUsage kUsage{
    "make_synthetic", "synthetic face identities for training and verification",
    "usage: make_synthetic (--out DIR | --preview FILE.jpg) [--identities N] [--images K] [--seed S]\n"
    "                      [--parts P] [--val-identities V] [--val-pairs M] [--quality Q] [--size PX]\n"
    "Writes DIR/train/part-*, DIR/val/{lfw,cfp_fp,agedb_30}.bin and DIR/synthetic.json;\n"
    "--preview writes a grid of N identities (rows) x K images (columns) instead.\n"
    "Defaults: 1000 identities x 20 images, seed 0, 8 parts, 200 held-out identities and\n"
    "2000 pairs per validation set, JPEG quality 95, 112 px.\n"};

int64_t parse_int(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0') kUsage.fail("bad integer for " + flag + ": " + text);
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  ff::apps::parse_flags(argc, argv, kUsage, [&](const std::string& flag, const std::string& value) {
    auto& s = o.synthetic;
    if (flag == "--out") o.out = value;
    else if (flag == "--preview") o.preview = value;
    else if (flag == "--identities") s.num_identities = parse_int(flag, value);
    else if (flag == "--images") s.images_per_identity = parse_int(flag, value);
    else if (flag == "--seed") s.seed = static_cast<uint64_t>(parse_int(flag, value));
    else if (flag == "--parts") s.num_parts = static_cast<int>(parse_int(flag, value));
    else if (flag == "--val-identities") s.val_identities = parse_int(flag, value);
    else if (flag == "--val-pairs") s.val_pairs = parse_int(flag, value);
    else if (flag == "--quality") s.jpeg_quality = static_cast<int>(parse_int(flag, value));
    else if (flag == "--size") s.image_size = static_cast<int>(parse_int(flag, value));
    else return false;
    return true;
  });
  if (o.out.empty() == o.preview.empty()) kUsage.fail("give exactly one of --out and --preview");
  return o;
}

void write_preview(const Options& o) {
  const auto& s = o.synthetic;
  const int size = s.image_size;
  const int64_t rows = s.num_identities, cols = s.images_per_identity;
  FF_CHECK(rows * size <= 4096 && cols * size <= 4096, "preview of {}x{} images is too large", rows, cols);
  ff::data::RgbImage grid(static_cast<int>(rows * size), static_cast<int>(cols * size));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const ff::data::RgbImage face = ff::data::render_identity_image(s.seed, r, c, size, s.train_strength);
      for (int y = 0; y < size; ++y) {
        std::copy(face.pixel(y, 0), face.pixel(y, 0) + size * 3,
                  grid.pixel(static_cast<int>(r * size + y), static_cast<int>(c * size)));
      }
    }
  }
  // A .ppm name writes the exact pixels (binary PPM); anything else a JPEG.
  const bool ppm = o.preview.size() > 4 && o.preview.substr(o.preview.size() - 4) == ".ppm";
  std::vector<uint8_t> jpeg;
  if (ppm) {
    const std::string header = "P6\n" + std::to_string(grid.width) + " " + std::to_string(grid.height) + "\n255\n";
    jpeg.assign(header.begin(), header.end());
    jpeg.insert(jpeg.end(), grid.pixels.begin(), grid.pixels.end());
  } else {
    jpeg = ff::data::encode_jpeg(grid, s.jpeg_quality);
  }
  std::FILE* f = std::fopen(o.preview.c_str(), "wb");
  FF_CHECK(f != nullptr, "cannot open '{}' for writing", o.preview);
  const size_t written = std::fwrite(jpeg.data(), 1, jpeg.size(), f);
  FF_CHECK(std::fclose(f) == 0 && written == jpeg.size(), "cannot write '{}'", o.preview);
  std::printf("preview: %s (%lld identities x %lld images)\n", o.preview.c_str(), static_cast<long long>(rows),
              static_cast<long long>(cols));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    if (!o.preview.empty()) {
      write_preview(o);
      return 0;
    }
    const ff::data::SyntheticDatasetFiles files = ff::data::write_synthetic_dataset(o.out, o.synthetic);
    std::printf("num_classes: %lld\nnum_images: %lld\ntrain_parts: %zu\n", static_cast<long long>(files.num_classes),
                static_cast<long long>(files.num_images), files.train_parts.size());
    for (const std::string& bin : files.validation_bins) std::printf("val: %s\n", bin.c_str());
    std::printf("metadata: %s\n", files.metadata.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_synthetic: error: %s\n", e.what());
    return 1;
  }
}
