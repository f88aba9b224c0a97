#include "apps/val/val_args.h"

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "framework/common/check.h"

namespace ff::apps::val {

const char* val_usage() {
  return "usage: val --network NAME (--model FILE.safetensors | --random-init) --data DIR\n"
         "           [--targets lfw,cfp_fp,agedb_30] [--batch-size 64] [--no-flip] [--device auto|cpu|cuda[:N]]\n"
         "           [--image-size 112] [--roc-csv FILE.csv] [--embedding-size 512] [--seed 0]\n"
         "           [--width-divisor 1]\n"
         "Evaluates a backbone on insightface validation sets DIR/<target>.bin with the 10-fold protocol\n"
         "of insightface's eval/verification.py and prints, per target: pairs, Accuracy-Flip +- std,\n"
         "XNorm, the best threshold (mean of the 10 fold choices) and the time taken.\n"
         "  --model FILE      backbone weights written by train / tools/pt_to_safetensors.py\n"
         "  --random-init     an untrained network (initialised with --seed) instead of --model\n"
         "  --no-flip         embed the originals only (plain accuracy instead of Accuracy-Flip)\n"
         "  --device          auto = cuda when a GPU is present, else cpu\n"
         "  --roc-csv FILE    one CSV for all targets: target,threshold,tpr,fpr (400 rows per target,\n"
         "                    thresholds 0..3.99, rates over all pairs)\n"
         "  --embedding-size  embedding length for --random-init (a --model file records its own)\n"
         "  --width-divisor   test-only shrunken networks (every channel count divided by it)\n";
}

namespace {

int64_t parse_integer(const std::string& flag, const std::string& text, int64_t min_value) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  FF_CHECK(!text.empty() && end != nullptr && *end == '\0' && errno == 0, "{}: '{}' is not an integer", flag, text);
  FF_CHECK(v >= min_value, "{}: must be at least {}, got {}", flag, min_value, v);
  return v;
}

std::vector<std::string> split_list(const std::string& flag, const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    FF_CHECK(!item.empty(), "{}: empty name in '{}'", flag, text);
    items.push_back(item);
  }
  FF_CHECK(!items.empty(), "{}: no targets given", flag);
  return items;
}

}  // namespace

ValArgs parse_val_args(int argc, const char* const* argv, bool* help) {
  ValArgs a;
  *help = false;
  bool model_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      *help = true;
      return a;
    }
    if (flag == "--no-flip") {
      a.flip = false;
      continue;
    }
    if (flag == "--random-init") {
      a.random_init = true;
      continue;
    }
    FF_CHECK(i + 1 < argc, "{}: missing value", flag);
    const std::string value = argv[++i];
    if (flag == "--model") {
      a.model = value;
      model_given = true;
    } else if (flag == "--network") {
      a.network = value;
    } else if (flag == "--data") {
      a.data_dir = value;
    } else if (flag == "--targets") {
      a.targets = split_list(flag, value);
    } else if (flag == "--batch-size") {
      a.batch_size = parse_integer(flag, value, 1);
    } else if (flag == "--device") {
      a.device = value;
    } else if (flag == "--image-size") {
      a.image_size = static_cast<int>(parse_integer(flag, value, 16));
    } else if (flag == "--roc-csv") {
      a.roc_csv = value;
    } else if (flag == "--embedding-size") {
      a.embedding_size = parse_integer(flag, value, 1);
    } else if (flag == "--seed") {
      a.seed = static_cast<uint64_t>(parse_integer(flag, value, 0));
    } else if (flag == "--width-divisor") {
      a.width_divisor = parse_integer(flag, value, 1);
    } else {
      FF_THROW("unknown option '{}'", flag);
    }
  }
  FF_CHECK(!a.network.empty(), "--network is required (e.g. r50, r100, mbf)");
  FF_CHECK(!a.data_dir.empty(), "--data is required (the folder holding lfw.bin, cfp_fp.bin, agedb_30.bin)");
  FF_CHECK(model_given != a.random_init, "give exactly one of --model FILE and --random-init");
  FF_CHECK(!model_given || !a.model.empty(), "--model: empty path");
  return a;
}

}  // namespace ff::apps::val
