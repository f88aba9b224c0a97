// The trainer's checkpoints (format: trainer_checkpoint.h), resume with re-sharding, the
// backbone export and the periodic verification.
#include <fmt/format.h>

#include <cmath>

#include "apps/common/model_io.h"
#include "apps/common/trainer_checkpoint.h"
#include "apps/common/trainer_impl.h"
#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "framework/io/atomic_file.h"
#include "ops/tensor_ops/fill.h"

namespace ff::apps {
namespace {

// Metadata helpers: integers are written in decimal, doubles with 17 significant digits.
std::string get(const SafetensorsMetadata& m, const std::string& key, const std::string& where) {
  auto it = m.find(key);
  FF_CHECK(it != m.end(), "checkpoint {}: metadata '{}' is missing", where, key);
  return it->second;
}

// Metadata `key` as a whole integer (`parse` is std::stoll or std::stoull); anything else,
// including a number with trailing characters, is an error naming the checkpoint and the key.
template <typename Int, typename Parse>
Int get_integer(const SafetensorsMetadata& m, const std::string& key, const std::string& where, Parse parse) {
  const std::string v = get(m, key, where);
  size_t used = 0;
  Int out = 0;
  try {
    out = parse(v, &used);
  } catch (...) {
    used = 0;
  }
  FF_CHECK(used == v.size() && !v.empty(), "checkpoint {}: metadata '{}' = '{}' is not an integer", where, key, v);
  return out;
}

int64_t get_int(const SafetensorsMetadata& m, const std::string& key, const std::string& where) {
  return get_integer<int64_t>(m, key, where, [](const std::string& v, size_t* used) { return std::stoll(v, used); });
}

uint64_t get_uint(const SafetensorsMetadata& m, const std::string& key, const std::string& where) {
  return get_integer<uint64_t>(m, key, where, [](const std::string& v, size_t* used) { return std::stoull(v, used); });
}

StateDict cpu_clone(const StateDict& d) {
  StateDict out;
  for (const auto& [k, v] : d) out[k] = v.device().is_cpu() ? v.clone() : v.to(Device());
  return out;
}

}  // namespace

std::string Trainer::Impl::save_checkpoint() {
  // Everything is snapshotted before the collective write so that no rank reads live state late.
  FcShardState shard;
  shard.row_begin = pfc->shard().start;
  shard.row_end = pfc->shard().start + pfc->shard().count;
  shard.num_classes = data.num_classes;
  shard.weight = pfc->weight.detach().to(Device()).to(DType::Float32);
  shard.optimizer = cpu_clone(fc_opt->state_dict());

  TrainerCheckpointState state;
  if (is_rank0) {
    // Parameters from the float32 masters (exact in fp16/bf16 mode too), buffers from the model.
    state.backbone = cpu_clone(master->named_params());
    for (const auto& [name, b] : backbone->named_buffers()) state.backbone[name] = b.detach().to(Device()).clone();
    state.optimizer = cpu_clone(backbone_opt->state_dict());
    state.scheduler = cpu_clone(scheduler->state_dict());
    state.grad_scaler = cpu_clone(scaler->state_dict());
    auto& m = state.metadata;
    m["step"] = std::to_string(global_step);
    m["epoch"] = std::to_string(epoch);
    m["batch_in_epoch"] = std::to_string(batch_in_epoch);
    m["pfc_step"] = std::to_string(pfc->step());
    m["world_size"] = std::to_string(comm.world_size());
    m["micro_global_batch"] = std::to_string(micro_global_batch);
    m["gradient_acc"] = std::to_string(cfg.gradient_acc);
    m["network"] = cfg.network;
    m["embedding_size"] = std::to_string(cfg.embedding_size);
    m["num_classes"] = std::to_string(data.num_classes);
    m["optimizer"] = cfg.optimizer;
    m["precision"] = cfg.precision;
    m["seed"] = std::to_string(cfg.seed);
    m["rng_default_seed"] = std::to_string(default_generator().seed());
    m["rng_default_offset"] = std::to_string(default_generator().offset());
    m["rng_model_seed"] = std::to_string(model_generator.seed());
    m["rng_model_offset"] = std::to_string(model_generator.offset());
    for (const auto& [target, acc] : best_accuracy) m["best." + target] = fmt::format("{:.17g}", acc);
  }
  const std::string config_text = is_rank0 ? train_config_to_text(cfg) : "";
  const std::string dir = commit_checkpoint(cfg.output, global_step, comm, [&](const std::string& tmp) {
    write_fc_shard(tmp, shard);
    if (is_rank0) {
      write_trainer_state(tmp, state);
      AtomicFileWriter out(tmp + "/config.prototxt");
      out.write(config_text.data(), config_text.size());
      out.commit();
    }
  });
  summary.last_checkpoint = dir;
  log.note(fmt::format("checkpoint: step {} saved to {}", global_step, dir));
  if (is_rank0) {
    std::vector<std::string> failures;
    const std::vector<std::string> removed = prune_checkpoints(cfg.output, global_step, cfg.keep_checkpoints, &failures);
    if (!removed.empty()) {
      log.note(fmt::format("checkpoint: removed {} (logging.keep_checkpoints = {})", fmt::join(removed, ", "),
                           cfg.keep_checkpoints));
    }
    for (const std::string& f : failures) log.note("checkpoint: warning: " + f);
  }
  return dir;
}

void Trainer::Impl::resume_from(const std::string& dir) {
  TrainerCheckpointState state = read_trainer_state(dir);
  const SafetensorsMetadata& m = state.metadata;
  FF_CHECK(get(m, "network", dir) == cfg.network, "checkpoint {} is of network '{}', the config asks for '{}'", dir,
           get(m, "network", dir), cfg.network);
  FF_CHECK(get_int(m, "embedding_size", dir) == cfg.embedding_size,
           "checkpoint {} has embedding_size {}, the config {}", dir, get_int(m, "embedding_size", dir),
           cfg.embedding_size);
  FF_CHECK(get_int(m, "num_classes", dir) == data.num_classes, "checkpoint {} has {} classes, the dataset {}", dir,
           get_int(m, "num_classes", dir), data.num_classes);
  FF_CHECK(get(m, "optimizer", dir) == cfg.optimizer, "checkpoint {} was trained with optimizer '{}', the config asks "
           "for '{}'", dir, get(m, "optimizer", dir), cfg.optimizer);

  // Backbone: buffers and (16-bit) parameters through the module, exact float32 into the masters.
  const std::string source = dir + "/trainer.safetensors";
  backbone->load_state_dict(state.backbone, /*strict=*/true);
  master->load(state.backbone, source);
  backbone_opt->load_state_dict(state.optimizer);

  // Schedule and position. A different global batch (another world size without adjusting
  // batch_size) changes total_step; the run then follows the new schedule from the saved step.
  const int64_t saved_world = get_int(m, "world_size", dir);
  const int64_t saved_micro_batch = get_int(m, "micro_global_batch", dir);
  const int64_t saved_acc = get_int(m, "gradient_acc", dir);
  StateDict sched = state.scheduler;
  if (saved_micro_batch != micro_global_batch || saved_acc != cfg.gradient_acc) {
    for (auto it = sched.begin(); it != sched.end();) it = it->first.rfind("config.", 0) == 0 ? sched.erase(it) : std::next(it);
    log.note(fmt::format("resume: the global batch changed ({} x acc {} -> {} x acc {}): the lr schedule continues "
                         "from step {} over the new total of {} steps",
                         saved_micro_batch, saved_acc, micro_global_batch, cfg.gradient_acc, get_int(m, "step", dir),
                         total_step));
  }
  scheduler->load_state_dict(sched);
  if (scaler->enabled() && !state.grad_scaler.empty() && get(m, "precision", dir) == "fp16") {
    scaler->load_state_dict(state.grad_scaler);
  }
  global_step = get_int(m, "step", dir);
  epoch = get_int(m, "epoch", dir);
  // The position inside the epoch, in images: the same global images whatever the world size
  // (the sampler's permutation does not depend on it; rank r takes every world-th element).
  const int64_t images_done = get_int(m, "batch_in_epoch", dir) * saved_micro_batch;
  batch_in_epoch = images_done / micro_global_batch;
  if (batch_in_epoch * micro_global_batch != images_done) {
    log.note(fmt::format("resume: epoch position {} images is not a multiple of the new global batch {}: "
                         "continuing at batch {}",
                         images_done, micro_global_batch, batch_in_epoch));
  }
  if (batch_in_epoch + cfg.gradient_acc > batches_per_epoch) {
    ++epoch;
    batch_in_epoch = 0;
  }
  pfc->set_step(get_int(m, "pfc_step", dir));
  default_generator().manual_seed(get_uint(m, "rng_default_seed", dir));
  default_generator().set_offset(get_uint(m, "rng_default_offset", dir));
  model_generator.manual_seed(get_uint(m, "rng_model_seed", dir));
  model_generator.set_offset(get_uint(m, "rng_model_offset", dir));
  for (const auto& [key, value] : m) {
    if (key.rfind("best.", 0) == 0) best_accuracy[key.substr(5)] = std::stod(value);
  }

  // FC: this rank's rows for the current world size, from whatever shards were saved.
  const heads::ClassShard s = pfc->shard();
  FcShardState shard = read_fc_rows(dir, s.start, s.start + s.count, data.num_classes);
  {
    autograd::NoGradGuard no_grad;
    pfc->weight.detach().copy_(shard.weight);
  }
  StateDict fc_state = shard.optimizer;
  auto numel = fc_state.find("param_groups.0.param_numel");
  if (numel != fc_state.end()) numel->second = tensor_from(std::vector<int64_t>{s.count * cfg.embedding_size}, {1});
  // load_state_dict makes each state tensor on its parameter's device and copies into it.
  fc_opt->load_state_dict(fc_state);

  summary.resumed_from = dir;
  log.note(fmt::format("resume: {} (saved by {} rank(s), step {}, epoch {}, batch {}); this run has {} rank(s)", dir,
                       saved_world, global_step, epoch, batch_in_epoch, comm.world_size()));
}

void Trainer::Impl::export_model() {
  // The float32 masters, not the model's fp16/bf16 copies of them (identical in fp32 training).
  if (is_rank0) save_backbone(cfg.output + "/model.safetensors", *backbone, master->named_params());
}

void Trainer::Impl::load_validation_targets() {
  for (const std::string& path : find_validation_bins(cfg)) {
    targets.push_back(load_validation_target(path, static_cast<int>(cfg.input_size)));
  }
}

void Trainer::Impl::run_verification() {
  if (!is_rank0 || targets.empty()) return;
  VerificationOptions vo;
  vo.device = device;
  vo.flip = true;
  std::vector<std::pair<std::string, double>> results;
  for (const ValidationTarget& t : targets) {
    const VerificationResult r = evaluate_backbone(*backbone, t, vo);
    double& best = best_accuracy[t.name];
    best = std::max(best, r.accuracy_mean);
    VerificationLogRecord rec;
    rec.step = global_step;
    rec.target = t.name;
    rec.accuracy_flip = r.accuracy_mean;
    rec.accuracy_std = r.accuracy_std;
    rec.xnorm = r.xnorm;
    rec.best_accuracy_flip = best;
    log.verification(rec);
    results.emplace_back(t.name, r.accuracy_mean);
  }
  summary.last_verification = results;
  last_verified_step = global_step;
}

}  // namespace ff::apps
