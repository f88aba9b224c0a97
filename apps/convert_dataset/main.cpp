// convert_dataset: dataset conversion and inspection (docs/formats.md).
//
//   convert_dataset rec2ofrecord --rec train.rec [--idx train.idx] --out DIR/train --parts N
//                                [--shuffle --seed S] [--num-classes C] [--skip-bad] [--overwrite]
//   convert_dataset folder2ofrecord --root DIR --out DIR/train --parts N [--shuffle --seed S] [--skip-bad]
//   convert_dataset inspect-bin --bin lfw.bin [--dump N --out DIR]
//   convert_dataset inspect-ofrecord --dir DIR/train [--parts N] [--num-classes C]
//   convert_dataset inspect-rec --rec train.rec [--idx train.idx] [--check N]
//   convert_dataset dump-pickle --bin lfw.bin [--max N]
//
// Exit status: 0 success, 1 the data has errors (message on stderr), 2 bad command line.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>

#include "apps/convert_dataset/commands.h"
#include "framework/common/check.h"

namespace {

const char* kUsage =
    "usage: convert_dataset <command> [options]\n"
    "\n"
    "conversion (writes OneFlow OFRecord parts DIR/part-00000 ... with keys \"encoded\" and \"label\"):\n"
    "  rec2ofrecord    --rec X.rec [--idx X.idx] --out DIR --parts N [--shuffle] [--seed S]\n"
    "                  [--num-classes C] [--skip-bad] [--overwrite]\n"
    "                  insightface MXNet RecordIO -> OFRecord. Without --idx the .rec is scanned.\n"
    "  folder2ofrecord --root DIR --out DIR --parts N [--shuffle] [--seed S] [--skip-bad] [--overwrite]\n"
    "                  DIR/<identity>/<image>.jpg (sorted identity names = labels 0, 1, ...) -> OFRecord.\n"
    "inspection:\n"
    "  inspect-bin      --bin FILE [--dump N --out DIR]   pair/same counts; writes the first N images as\n"
    "                                                    DIR/00000.jpg ... (bytes unchanged)\n"
    "  inspect-ofrecord --dir DIR [--parts N] [--suffix-length L] [--num-classes C]\n"
    "                   reads every record; reports counts, label range and bad records\n"
    "  inspect-rec      --rec X.rec [--idx X.idx] [--num-classes C] [--check N]\n"
    "  dump-pickle      --bin FILE [--max N]              lists the pickle opcodes (debugging .bin files)\n"
    "\n"
    "--skip-bad: skip corrupt records (counted and reported) instead of stopping at the first.\n"
    "--shuffle:  record order shuffled with --seed (default 0), reproducibly on every platform.\n";

struct Command {
  const char* name;
  int (*run)(const ff::apps::Args&);
  std::set<std::string> value_options;
  std::set<std::string> switches;
};

const Command kCommands[] = {
    {"rec2ofrecord", ff::apps::rec_to_ofrecord, {"rec", "idx", "out", "parts", "seed", "num-classes"},
     {"shuffle", "skip-bad", "overwrite"}},
    {"folder2ofrecord", ff::apps::folder_to_ofrecord, {"root", "out", "parts", "seed"},
     {"shuffle", "skip-bad", "overwrite"}},
    {"inspect-bin", ff::apps::inspect_bin, {"bin", "dump", "out"}, {}},
    {"inspect-ofrecord", ff::apps::inspect_ofrecord, {"dir", "parts", "suffix-length", "num-classes"}, {}},
    {"inspect-rec", ff::apps::inspect_rec, {"rec", "idx", "num-classes", "check"}, {}},
    {"dump-pickle", ff::apps::dump_pickle, {"bin", "max"}, {}},
};

// A wrong command prints the whole usage; a wrong option only points at it.
[[noreturn]] void usage_error(const std::string& why, bool full_usage = false) {
  if (full_usage) {
    std::fprintf(stderr, "convert_dataset: %s\n\n%s", why.c_str(), kUsage);
  } else {
    std::fprintf(stderr, "convert_dataset: %s (convert_dataset --help lists the options)\n", why.c_str());
  }
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage_error("missing command", true);
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    std::printf("%s", kUsage);
    return 0;
  }
  const Command* command = nullptr;
  for (const Command& c : kCommands) {
    if (name == c.name) command = &c;
  }
  if (!command) usage_error("unknown command '" + name + "'", true);

  ff::apps::Args args;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf("%s", kUsage);
      return 0;
    }
    if (arg.rfind("--", 0) != 0) usage_error("unexpected argument '" + arg + "'");
    const std::string option = arg.substr(2);
    if (command->switches.count(option)) {
      args.switches[option] = true;
    } else if (command->value_options.count(option)) {
      if (i + 1 >= argc) usage_error("missing value for " + arg);
      args.values[option] = argv[++i];
    } else {
      usage_error("unknown option " + arg + " for " + name);
    }
  }
  try {
    return command->run(args);
  } catch (const ff::apps::UsageError& e) {
    usage_error(e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "convert_dataset %s: error: %s\n", name.c_str(), e.what());
    return 1;
  }
}
