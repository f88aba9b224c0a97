// Command line of apps/val (see main.cpp for the usage text and docs/user_guide.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ff::apps::val {

struct ValArgs {
  std::string model;        // backbone safetensors file (apps::load_backbone); empty with random_init
  bool random_init = false;  // evaluate a freshly initialised network instead of --model
  uint64_t seed = 0;         // initialisation seed for --random-init
  std::string network;
  std::string data_dir;
  std::vector<std::string> targets{"lfw", "cfp_fp", "agedb_30"};
  int64_t batch_size = 64;
  bool flip = true;
  std::string device = "auto";  // cpu | cuda | cuda:N | auto
  int image_size = 112;
  int64_t embedding_size = 512;  // for --random-init (a backbone file records its own)
  int64_t width_divisor = 1;     // test-only shrinking (models/backbone.h)
  std::string roc_csv;
};

// The usage text printed by --help and after a usage error.
const char* val_usage();

// Parses argv; throws ff::Error (naming the flag) on a bad or missing value. Sets *help when
// --help / -h was given (nothing else is then required).
ValArgs parse_val_args(int argc, const char* const* argv, bool* help);

}  // namespace ff::apps::val
