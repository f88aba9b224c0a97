// data_bench: throughput of the data pipeline on 112x112 JPEGs at quality 95 (synthetic faces).
//
//   build/apps/data_bench [--images N] [--batch B] [--min-seconds S] [--workers W]
//                         [--disk-records N [--disk-dir DIR] [--disk-parts P]]
//
// Prints a markdown table (docs/benchmarks.md, "Data pipeline"):
//   decode only            tjDecompress2 to RGB HWC, one thread
//   normalise + layout     flip/(x-127.5)/127.5/HWC->CHW of decoded images, one thread
//   assemble fp32 / fp16   the loader's per-batch work (read, decode, augment, batch), one thread
//   loader W workers       DataLoader end to end (fp32 and fp16), consumer just takes batches
//   encode q95             encode_jpeg, for the synthetic generator
// and, with --disk-records N, a second table (disk_bench.h): N records written as OFRecord parts
// and as train.rec + train.idx under DIR (default /tmp), opened cold and warm, and read by the
// loader.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <string>
#include <thread>

#include "apps/data_bench/disk_bench.h"
#include "data/decode/jpeg.h"
#include "data/loader/data_loader.h"
#include "data/synthetic/face_renderer.h"
#include "framework/core/parallel.h"

namespace {

using Clock = std::chrono::steady_clock;

// Runs `body` (which processes `items_per_call` images) until min_seconds have passed; images/s.
double rate(double min_seconds, int64_t items_per_call, const std::function<void()>& body) {
  body();  // warm-up: thread-local buffers, TurboJPEG handles, page faults
  int64_t items = 0;
  const auto t0 = Clock::now();
  double elapsed = 0;
  do {
    body();
    items += items_per_call;
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  } while (elapsed < min_seconds);
  return items / elapsed;
}

void row(const char* what, int threads, double images_per_second) {
  std::printf("| %-36s | %7d | %10.0f | %12.0f |\n", what, threads, images_per_second, images_per_second / threads);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t num_images = 512, batch = 128;
  double min_seconds = 2.0;
  int workers = 2;
  ff::data::DiskBenchOptions disk;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--images") num_images = std::atoll(argv[i + 1]);
    else if (flag == "--batch") batch = std::atoll(argv[i + 1]);
    else if (flag == "--min-seconds") min_seconds = std::atof(argv[i + 1]);
    else if (flag == "--workers") workers = std::atoi(argv[i + 1]);
    else if (flag == "--disk-records") disk.records = std::atoll(argv[i + 1]);
    else if (flag == "--disk-dir") disk.dir = argv[i + 1];
    else if (flag == "--disk-parts") disk.parts = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr,
                   "usage: data_bench [--images N] [--batch B] [--min-seconds S] [--workers W]\n"
                   "                  [--disk-records N [--disk-dir DIR] [--disk-parts P]]\n");
      return 2;
    }
  }
  try {
    using namespace ff::data;
    ff::set_num_threads(1);  // the loader's threads are its workers; keep OpenMP out of the way
    std::vector<FaceExample> records(static_cast<size_t>(num_images));
    std::vector<RgbImage> decoded(records.size());
    size_t total_bytes = 0;
    for (int64_t i = 0; i < num_images; ++i) {
      const RgbImage face = render_identity_image(1, i % 97, i);
      records[i].encoded_jpeg = encode_jpeg(face, 95);
      records[i].label = static_cast<int32_t>(i % 97);
      total_bytes += records[i].encoded_jpeg.size();
      decoded[i] = face;
    }
    auto source = std::make_shared<InMemoryRecordSource>(records, "bench");
    std::printf("data_bench: %lld synthetic faces 112x112, JPEG q95 4:2:0, mean %.1f KiB; batch %lld; %u hardware threads\n\n",
                static_cast<long long>(num_images), total_bytes / 1024.0 / num_images, static_cast<long long>(batch),
                std::thread::hardware_concurrency());
    std::printf("| %-36s | %7s | %10s | %12s |\n", "stage", "threads", "images/s", "images/s/core");
    std::printf("|%s|%s|%s|%s|\n", std::string(38, '-').c_str(), std::string(9, '-').c_str(), std::string(12, '-').c_str(),
                std::string(14, '-').c_str());

    RgbImage out;
    row("decode only (tjDecompress2)", 1, rate(min_seconds, num_images, [&] {
          for (const auto& r : records) decode_jpeg(r.encoded_jpeg.data(), r.encoded_jpeg.size(), "bench", out);
        }));
    std::vector<float> chw(3 * 112 * 112);
    row("flip + normalise + HWC->CHW fp32", 1, rate(min_seconds, num_images, [&] {
          for (size_t i = 0; i < decoded.size(); ++i) to_normalized_chw(decoded[i], i % 2 == 0, chw.data());
        }));
    for (ff::DType dtype : {ff::DType::Float32, ff::DType::Float16}) {
      AssemblerOptions ao;
      ao.dtype = dtype;
      BatchAssembler assembler(source, ao);
      std::vector<std::vector<int64_t>> batches;
      for (int64_t b = 0; b + batch <= num_images; b += batch) {
        batches.emplace_back();
        for (int64_t i = b; i < b + batch; ++i) batches.back().push_back(i);
      }
      const std::string name = std::string("assemble batch (decode+aug) ") + ff::dtype_name(dtype);
      row(name.c_str(), 1, rate(min_seconds, static_cast<int64_t>(batches.size()) * batch, [&] {
            for (size_t b = 0; b < batches.size(); ++b) assembler.assemble(batches[b], 0, static_cast<int64_t>(b));
          }));
    }
    for (ff::DType dtype : {ff::DType::Float32, ff::DType::Float16}) {
      LoaderOptions lo;
      lo.batch_size = batch;
      lo.num_workers = workers;
      lo.assembler.dtype = dtype;
      DataLoader loader(source, lo);
      int64_t epoch = 0;
      const std::string name = "DataLoader end to end " + std::string(ff::dtype_name(dtype));
      row(name.c_str(), workers, rate(min_seconds, loader.batches_per_epoch() * batch, [&] {
            loader.start_epoch(epoch++);
            Batch b;
            while (loader.next(b)) {
            }
          }));
    }
    row("encode q95 (synthetic generator)", 1, rate(min_seconds, num_images, [&] {
          for (const auto& img : decoded) encode_jpeg(img, 95);
        }));
    row("render a synthetic face", 1, rate(min_seconds, 64, [&] {
          for (int i = 0; i < 64; ++i) render_identity_image(2, i, i);
        }));
    if (disk.records > 0) {
      disk.workers = workers;
      run_disk_bench(records, disk);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "data_bench: error: %s\n", e.what());
    return 1;
  }
}
