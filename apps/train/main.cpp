// train: face-recognition training with a backbone + Partial FC (apps/common/trainer.h).
//
//   build/apps/train --config configs/ms1mv3_r50.prototxt
//   mpirun -np 8 build/apps/train --config configs/ms1mv3_r50.prototxt --set optimizer.lr=0.2
//   build/apps/train --config C --resume work_dirs/run/checkpoint_step2000
//
// Runs as one process or under mpirun (every rank runs this same command). On an error every
// rank prints it; with several ranks the job is aborted so that no rank waits for one that failed.
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/command_line.h"
#include "apps/common/train_config.h"
#include "apps/common/trainer.h"
#include "framework/common/check.h"
#include "framework/distributed/communicator.h"

namespace {

struct Args {
  std::string config;
  std::vector<std::string> overrides;
  std::string resume_dir;
};

constexpr ff::apps::CommandLineUsage kUsage{
    "train", "train a face-recognition model (arcface_torch style)",
    "usage: train --config FILE.prototxt [--set key=value ...] [--resume CHECKPOINT_DIR]\n"
    "  --config   training config (protobuf text; see configs/ and docs/user_guide.md)\n"
    "  --set      override one config key, dotted path, e.g. --set optimizer.lr=0.05 (repeatable)\n"
    "  --resume   continue from this checkpoint directory (config resume=true uses <output>/latest);\n"
    "             any number of ranks: the Partial FC is re-sharded\n"
    "Under MPI: mpirun -np N train --config ...   (rank r uses cuda:<local rank>)\n"};

Args parse(int argc, char** argv) {
  Args a;
  ff::apps::parse_flags(argc, argv, kUsage, [&](const std::string& flag, const std::string& value) {
    if (flag == "--config") a.config = value;
    else if (flag == "--set") a.overrides.push_back(value);
    else if (flag == "--resume") a.resume_dir = value;
    else return false;
    return true;
  });
  if (a.config.empty()) kUsage.fail("--config is required");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  ff::distributed::Communicator* comm = nullptr;  // world(): throws for a launch this build cannot serve
  // Outside the try: an error on one rank must reach comm.abort() before the trainer is torn
  // down, because tearing down its NCCL communicator synchronises with the peers, which may be
  // blocked in a collective waiting for this rank (and the job would hang instead of ending).
  std::unique_ptr<ff::apps::Trainer> trainer;
  try {
    comm = &ff::distributed::world();
    ff::apps::TrainConfig config = ff::apps::load_train_config(args.config, args.overrides);
    ff::apps::TrainerOptions options;
    options.resume_dir = args.resume_dir;
    trainer = std::make_unique<ff::apps::Trainer>(std::move(config), *comm, options);
    const ff::apps::TrainSummary s = trainer->run();
    if (comm->rank() == 0) {
      std::printf("train: done at step %lld (%lld steps this run, last loss %.4f, %lld fp16 steps skipped)\n",
                  static_cast<long long>(s.global_step), static_cast<long long>(s.steps), s.last_loss,
                  static_cast<long long>(s.skipped_steps));
    }
    return 0;
  } catch (const std::exception& e) {
    const std::string message = std::string("error: ") + e.what();
    if (comm != nullptr && comm->world_size() > 1) comm->abort(message);  // ends every rank
    std::fprintf(stderr, "%s\n", message.c_str());
    return 1;
  }
}
