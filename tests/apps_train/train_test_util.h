// Shared by the trainer tests: a tiny synthetic dataset (generated once per test process), a
// tiny-model TrainConfig, metrics.jsonl reading, and launching build/apps/train under mpirun.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "apps/common/train_config.h"
#include "data/ofrecord/ofrecord_dataset.h"
#include "data/ofrecord/ofrecord_writer.h"
#include "data/synthetic/synthetic_dataset.h"
#include "framework/io/json.h"

namespace ff::apps::testing {

namespace fs = std::filesystem;

inline fs::path process_temp_root() {
  return fs::temp_directory_path() / ("ff_apps_train_" + std::to_string(::getpid()));
}

// Removes this process's temporary directories at exit.
struct TempRootCleaner {
  ~TempRootCleaner() {
    std::error_code ignored;
    fs::remove_all(process_temp_root(), ignored);
  }
};
inline TempRootCleaner temp_root_cleaner;

// A fresh directory under the system temp dir, removed at the end of the test process.
inline std::string temp_dir(const std::string& name) {
  const fs::path p = process_temp_root() / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

// 20 identities x 4 images of 32 px (80 records in 2 OFRecord parts) and one 40-pair lfw.bin.
inline const std::string& tiny_dataset() {
  static const std::string dir = [] {
    const std::string d = temp_dir("dataset");
    data::SyntheticOptions o;
    o.num_identities = 20;
    o.images_per_identity = 4;
    o.image_size = 32;
    o.num_parts = 2;
    o.seed = 3;
    o.val_identities = 10;
    o.val_pairs = 40;
    o.validation = {data::default_validation_specs().front()};
    data::write_synthetic_dataset(d, o);
    return d;
  }();
  return dir;
}

// The tiny dataset's training parts rewritten with record 5 damaged (its JPEG headers
// overwritten, as by a bad sector) and record 12 labelled 25 of 20 classes, both in part-00000;
// returns the directory of the two parts (written once per test process).
inline const std::string& damaged_dataset() {
  static const std::string dir = [] {
    const data::OFRecordDataset clean(tiny_dataset() + "/train");
    std::vector<data::FaceExample> examples;
    for (int64_t i = 0; i < clean.size(); ++i) examples.push_back(clean.get(i));
    std::vector<uint8_t>& jpeg = examples[5].encoded_jpeg;
    for (size_t i = 20; i < 400 && i < jpeg.size(); ++i) jpeg[i] = 0x55;
    examples[12].label = 25;
    const std::string d = temp_dir("damaged_dataset");
    data::write_ofrecord_parts(d, examples, 2);
    return d;
  }();
  return dir;
}

// The tiny model on the tiny dataset: mbf / 8 at 32 px, 64-d embedding, 1 epoch = 80 / batch.
inline TrainConfig tiny_config(const std::string& output) {
  TrainConfig c;
  c.network = "mbf";
  c.embedding_size = 64;
  c.width_divisor = 8;
  c.input_size = 32;
  c.scale = 16;  // a gentler logit scale than 64 lets 20 classes learn within a few dozen steps
  c.m2 = 0.2;
  c.batch_size = 8;
  c.lr = 0.05;
  c.num_epoch = 4;
  c.seed = 11;
  c.data_path = tiny_dataset() + "/train";
  c.data_format = "ofrecord";
  c.num_classes = 20;  // the config parser requires it for OFRecords
  c.val_dir = tiny_dataset() + "/val";
  c.num_workers = 1;
  c.device = "cpu";
  c.verbose = 0;
  c.frequent = 1;
  c.output = output;
  return c;
}

// metrics.jsonl "train" records: step -> step_loss (later records of a step replace earlier ones).
inline std::map<int64_t, double> step_losses(const std::string& output_dir) {
  std::map<int64_t, double> out;
  std::ifstream in(output_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const json::Value v = json::parse(line, output_dir + "/metrics.jsonl");
    std::string type;
    int64_t step = -1;
    double loss = 0;
    for (const auto& [k, m] : v.object) {
      if (k == "type") type = m.string;
      if (k == "step") step = m.integer;
      if (k == "step_loss") loss = m.number;
    }
    if (type == "train") out[step] = loss;
  }
  return out;
}

#if defined(FF_TRAIN_BINARY) && defined(FF_MPIEXEC)
inline constexpr bool kCanLaunchMpi = true;
#else
inline constexpr bool kCanLaunchMpi = false;
#endif

// Runs `mpirun -np N train --config <config> args...` with the test MPI environment; returns its
// exit status (0 = success). The output goes to <log>.
inline int launch_train(int ranks, const std::string& config_path, const std::string& args, const std::string& log) {
#if defined(FF_TRAIN_BINARY) && defined(FF_MPIEXEC)
  const std::string env =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 "
      "OMPI_MCA_btl_vader_single_copy_mechanism=none OMP_NUM_THREADS=1";
  const std::string cmd = env + " " + FF_MPIEXEC + " --allow-run-as-root --oversubscribe -np " +
                          std::to_string(ranks) + " " + FF_TRAIN_BINARY + " --config " + config_path + " " + args +
                          " > " + log + " 2>&1";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
#else
  (void)ranks, (void)config_path, (void)args, (void)log;
  return -1;
#endif
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace ff::apps::testing
