#include "apps/common/trainer.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "apps/common/trainer_checkpoint.h"
#include "apps/common/trainer_impl.h"
#include "data/loader/transfer_factory.h"
#include "framework/distributed/routing_communicator.h"
#include "framework/common/check.h"
#include "framework/core/device.h"
#include "framework/io/atomic_file.h"
#include "framework/optim/adamw.h"
#include "framework/optim/sgd.h"
#include "models/heads/margin_heads.h"
#include "models/heads/sparse_row_sgd.h"
#include "models/model_factory.h"
#include "ops/tensor_ops/fill.h"

namespace ff::apps {

int cuda_device_for_local_rank(int local_rank, int device_count) {
  FF_CHECK(device_count >= 1, "no CUDA device to place local rank {} on", local_rank);
  if (local_rank < device_count) return local_rank;
  // One visible device per process: the launcher narrowed CUDA_VISIBLE_DEVICES for each rank
  // (e.g. srun --gpus-per-task=1), so every rank's only device is its own.
  if (device_count == 1) return 0;
  FF_THROW("local rank {} has no GPU of its own: this process sees {} CUDA devices (cuda:0 .. cuda:{}), and two ranks "
           "on one GPU cannot share an NCCL communicator. Start at most {} ranks per node (mpirun -np / "
           "--npernode), or give each rank its own CUDA_VISIBLE_DEVICES",
           local_rank, device_count, device_count - 1, device_count);
}

namespace {

namespace fs = std::filesystem;

// "auto": cuda:<local rank> when a CUDA backend with a device is present, else the CPU
// (cuda_device_for_local_rank).
Device resolve_device(const std::string& name, distributed::Communicator& comm) {
  const bool have_cuda = has_backend(DeviceType::CUDA) && backend_for(DeviceType::CUDA).device_count() > 0;
  if (name == "auto") {
    if (!have_cuda) return Device();
    return Device(DeviceType::CUDA,
                  cuda_device_for_local_rank(comm.local_rank(), backend_for(DeviceType::CUDA).device_count()));
  }
  if (name == "cpu") return Device();
  if (name == "cuda") {
    FF_CHECK(have_cuda, "train config: device 'cuda' requested but no CUDA device is available in this build/machine");
    return Device(DeviceType::CUDA,
                  cuda_device_for_local_rank(comm.local_rank(), backend_for(DeviceType::CUDA).device_count()));
  }
  FF_THROW("train config: unknown device '{}' (auto, cpu, cuda)", name);
}

// The device the trainer runs on, made the main thread's current device: cuBLAS/cuDNN handles
// and kernels follow the current device, which is otherwise GPU 0 whatever the local rank (and
// only the NCCL set-up would have switched it, on multi-rank runs).
Device select_device(const std::string& name, distributed::Communicator& comm) {
  const Device device = resolve_device(name, comm);
  if (device.is_cuda()) backend_for(DeviceType::CUDA).set_current_device(device.index);
  return device;
}

// On a CUDA device with several ranks the collectives on GPU tensors (gradient buckets,
// embeddings, Partial FC logits) go through NCCL instead of MPI staged through host memory.
std::unique_ptr<distributed::Communicator> make_routed_communicator(const std::string& device_name,
                                                                    distributed::Communicator& host) {
  const Device device = resolve_device(device_name, host);
  if (device.type != DeviceType::CUDA || host.world_size() == 1) return nullptr;
  return std::make_unique<distributed::RoutingCommunicator>(host,
                                                            distributed::create_communicator("nccl", device.index));
}

DType body_dtype_of(const std::string& precision) {
  if (precision == "fp32") return DType::Float32;
  if (precision == "fp16") return DType::Float16;
  if (precision == "bf16") return DType::BFloat16;
  FF_THROW("train config: unknown precision '{}' (fp32, fp16, bf16)", precision);
}

}  // namespace

Trainer::Impl::Impl(TrainConfig config, distributed::Communicator& communicator, TrainerOptions opts)
    : cfg(std::move(config)),
      routed_comm(make_routed_communicator(cfg.device, communicator)),
      comm(routed_comm ? *routed_comm : communicator),
      options(std::move(opts)),
      device(select_device(cfg.device, comm)),
      is_rank0(comm.rank() == 0),
      model_generator(cfg.seed),
      log([&] {
        // The output dir must exist before the log opens its files (rank 0 only writes).
        if (comm.rank() == 0) fs::create_directories(cfg.output);
        return cfg.output;
      }(), comm.rank() == 0) {
  const int world = comm.world_size();
  FF_CHECK(cfg.batch_size >= 1, "train config: batch_size must be >= 1, got {}", cfg.batch_size);
  FF_CHECK(cfg.gradient_acc >= 1, "train config: gradient_acc must be >= 1, got {}", cfg.gradient_acc);
  FF_CHECK(cfg.frequent >= 0, "train config: frequent must be >= 0, got {}", cfg.frequent);
  FF_CHECK(cfg.optimizer == "sgd" || cfg.optimizer == "adamw", "train config: unknown optimizer '{}' (sgd, adamw)",
           cfg.optimizer);
  const DType body_dtype = body_dtype_of(cfg.precision);
  comm.barrier();  // the output dir exists for every rank from here on

  // ---- data
  data = open_train_data(cfg, comm);
  FF_CHECK(data.num_classes >= world, "train: {} classes cannot be sharded over {} ranks", data.num_classes, world);
  data::LoaderOptions lo;
  lo.batch_size = cfg.batch_size;
  lo.num_workers = cfg.num_workers;
  lo.sampler.world_size = world;
  lo.sampler.rank = comm.rank();
  lo.sampler.seed = cfg.seed;
  lo.assembler.image_height = lo.assembler.image_width = static_cast<int>(cfg.input_size);
  FF_CHECK(cfg.image_dtype == "fp32" || cfg.image_dtype == "fp16", "train config: image_dtype '{}' (fp32, fp16)",
           cfg.image_dtype);
  lo.assembler.dtype = cfg.image_dtype == "fp16" ? DType::Float16 : DType::Float32;
  lo.assembler.num_classes = data.num_classes;
  lo.assembler.on_bad_record = cfg.skip_bad_records ? data::OnBadRecord::SkipAndCount : data::OnBadRecord::Throw;
  // On a GPU: batches assembled in pinned memory and copied on a side stream while the previous
  // step computes (arcface_torch's pin_memory + DataLoaderX); on the CPU: plain buffers, no copy.
  lo.assembler.allocator = data::make_host_buffer_allocator(device);
  lo.transfer = data::make_batch_transfer(device);
  loader = std::make_unique<data::DataLoader>(data.source, lo);

  micro_global_batch = cfg.batch_size * world;
  batches_per_epoch = loader->batches_per_epoch();
  steps_per_epoch = batches_per_epoch / cfg.gradient_acc;
  FF_CHECK(steps_per_epoch >= 1,
           "train: the dataset ({} records) gives each of the {} ranks {} batches of {} per epoch, fewer than "
           "gradient_acc = {}: no full step fits in an epoch",
           data.source->size(), world, batches_per_epoch, cfg.batch_size, cfg.gradient_acc);
  const double steps_per_epoch_nominal =
      std::floor(static_cast<double>(data.num_image) / static_cast<double>(micro_global_batch * cfg.gradient_acc));
  total_step = static_cast<int64_t>(std::floor(steps_per_epoch_nominal * cfg.num_epoch));
  warmup_step = static_cast<int64_t>(std::floor(steps_per_epoch_nominal * cfg.warmup_epoch));
  FF_CHECK(total_step >= 1, "train: num_image {} / global batch {} x num_epoch {} gives no step", data.num_image,
           micro_global_batch * cfg.gradient_acc, cfg.num_epoch);
  FF_CHECK(warmup_step < total_step, "train: warmup ({} steps) must be shorter than the run ({} steps)", warmup_step,
           total_step);
  end_step = cfg.max_steps > 0 ? std::min(cfg.max_steps, total_step) : total_step;

  // ---- model
  models::BackboneOptions bo;
  bo.set_embedding_size(cfg.embedding_size)
      .set_dropout(cfg.dropout)
      .set_width_divisor(cfg.width_divisor)
      .set_input_size(cfg.input_size)
      .set_generator(&model_generator);
  backbone = std::dynamic_pointer_cast<models::Backbone>(models::create_backbone(cfg.network, bo));
  FF_ASSERT(backbone != nullptr, "create_backbone('{}') did not return a models::Backbone", cfg.network);
  if (body_dtype != DType::Float32) backbone->set_body_dtype(body_dtype);
  if (!device.is_cpu()) backbone->to(device);
  backbone->train();
  master = std::make_unique<MasterWeights>(backbone->named_parameters());

  heads::PartialFCOptions po;
  po.num_classes = data.num_classes;
  po.embedding_size = cfg.embedding_size;
  po.sample_rate = cfg.sample_rate;
  po.margin = heads::from_margin_list(cfg.m1, cfg.m2, cfg.m3, cfg.scale);
  po.margin.interclass_filtering_threshold = cfg.interclass_filtering_threshold;
  po.margin.validate();
  po.seed = cfg.seed;
  po.device = device;
  po.scale_embedding_grad_by_world_size = true;  // DataParallel averages the backbone's gradients
  pfc = std::make_shared<heads::PartialFC>(po, comm);

  // ---- optimizers, schedule, loss scaling
  if (cfg.optimizer == "sgd") {
    const auto so = optim::SGDOptions(cfg.lr).momentum(cfg.momentum).weight_decay(cfg.weight_decay);
    backbone_opt = std::make_unique<optim::SGD>(master->params(), so);
    auto sparse = std::make_unique<heads::SparseRowSGD>(std::vector<Tensor>{pfc->weight}, so);
    sparse->set_sparse_grad_source(
        pfc->weight, [this] { return fc_grad_ready; }, [this] { fc_grad_ready = {}; });
    fc_opt = std::move(sparse);
    fc_sparse = true;
  } else {
    const auto ao = optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay);
    backbone_opt = std::make_unique<optim::AdamW>(master->params(), ao);
    fc_opt = std::make_unique<optim::AdamW>(std::vector<Tensor>{pfc->weight}, ao);
    fc_sparse = false;
  }
  scheduler = std::make_unique<optim::PolynomialLRWarmup>(*backbone_opt, warmup_step, total_step);
  // arcface_torch: torch.cuda.amp.GradScaler(growth_interval=100).
  scaler = std::make_unique<amp::GradScaler>(
      amp::GradScalerOptions().enabled(cfg.precision == "fp16").growth_interval(100));

  // ---- resume, then make every rank's replica identical
  std::string resume_dir = options.resume_dir;
  if (resume_dir.empty() && cfg.resume) {
    resume_dir = latest_checkpoint(cfg.output);
    if (resume_dir.empty()) log.note(fmt::format("resume: no checkpoint in {} (no 'latest'): starting fresh", cfg.output));
  }
  if (!resume_dir.empty()) resume_from(resume_dir);
  if (world > 1) {
    dp = std::make_unique<distributed::DataParallel>(backbone, comm);  // broadcasts rank 0's model
    if (master->num_low_precision() > 0) master->broadcast(comm, 0);   // and its float32 masters
  }

  if (is_rank0) {
    const std::string text = train_config_to_text(cfg);
    AtomicFileWriter out(cfg.output + "/config.prototxt");
    out.write(text.data(), text.size());
    out.commit();
    load_validation_targets();
  }
  log.note(fmt::format("train: {} on {} x {}, {} ({} parameters), {} classes, batch {} x {} ranks x acc {}, "
                       "{} steps/epoch, total_step {}, warmup {}, precision {}, optimizer {}",
                       data.description, world, device.str(), cfg.network, backbone->num_parameters(),
                       data.num_classes, cfg.batch_size, world, cfg.gradient_acc, steps_per_epoch, total_step,
                       warmup_step, cfg.precision, cfg.optimizer));
}

TrainSummary Trainer::Impl::run() {
  using Clock = std::chrono::steady_clock;
  const auto run_start = Clock::now();
  auto window_start = run_start;
  int64_t steps_this_run = 0, window_steps = 0, steps_at_window_start = 0;
  double window_loss = 0;
  int64_t last_saved_step = -1;
  const int64_t samples_per_step = micro_global_batch * cfg.gradient_acc;

  while (global_step < end_step) {
    if (!epoch_open) {
      loader->start_epoch(epoch, batch_in_epoch);
      epoch_open = true;
    }
    const StepOutcome out = train_step();
    ++global_step;
    ++steps_this_run;
    batch_in_epoch += cfg.gradient_acc;
    scheduler->step();
    summary.step_losses.push_back(out.loss);
    summary.last_loss = out.loss;
    if (out.skipped) ++summary.skipped_steps;
    if (std::isfinite(out.loss)) {
      window_loss += out.loss;
      ++window_steps;
    }
    log.progress(global_step, end_step, out.loss);

    const bool epoch_end = batch_in_epoch + cfg.gradient_acc > batches_per_epoch;
    if (epoch_end) {
      ++epoch;
      batch_in_epoch = 0;
      epoch_open = false;
    }
    if ((cfg.frequent > 0 && global_step % cfg.frequent == 0) || global_step == end_step) {
      const auto now = Clock::now();
      const double window_s = std::chrono::duration<double>(now - window_start).count();
      const double run_s = std::chrono::duration<double>(now - run_start).count();
      StepLogRecord r;
      r.step = global_step;
      r.total_steps = end_step;
      r.epoch = epoch_end ? epoch - 1 : epoch;
      r.loss = window_steps > 0 ? window_loss / static_cast<double>(window_steps) : out.loss;
      r.step_loss = out.loss;
      // The lr this step used: the scheduler has already moved on to the next one.
      r.lr = scheduler->lr_at(global_step - 1, scheduler->base_lrs()[0]);
      r.samples_per_sec =
          window_s > 0 ? static_cast<double>((steps_this_run - steps_at_window_start) * samples_per_step) / window_s : 0.0;
      r.grad_scale = scaler->get_scale();
      r.grad_norm = out.grad_norm;
      r.skipped_steps = summary.skipped_steps;
      r.eta_seconds = run_s / static_cast<double>(steps_this_run) * static_cast<double>(end_step - global_step);
      log.step(r);
      window_start = now;
      steps_at_window_start = steps_this_run;
      window_loss = 0;
      window_steps = 0;
    }
    if (cfg.verbose > 0 && global_step % cfg.verbose == 0) run_verification();
    if (cfg.save_all_states && (epoch_end || (cfg.save_every_steps > 0 && global_step % cfg.save_every_steps == 0))) {
      save_checkpoint();
      last_saved_step = global_step;
    }
    if (epoch_end) {
      export_model();
      report_bad_records(fmt::format("epoch {}", epoch - 1), /*final=*/false);
    }
    // Speed measures training only: verification, checkpoints and exports restart the window.
    if (global_step == last_verified_step || last_saved_step == global_step || epoch_end) {
      window_start = Clock::now();
      steps_at_window_start = steps_this_run;
    }
  }
  loader->stop();
  epoch_open = false;
  // Targets live on rank 0 only; the other ranks wait for it in the checkpoint's collectives.
  if (last_verified_step != global_step && !targets.empty()) run_verification();
  if (cfg.save_all_states && last_saved_step != global_step) save_checkpoint();
  export_model();
  report_bad_records("end of training", /*final=*/true);
  summary.steps = steps_this_run;
  summary.global_step = global_step;
  return summary;
}

void Trainer::Impl::report_bad_records(const std::string& when, bool final) {
  if (!cfg.skip_bad_records) return;
  const data::BadRecordLog& decoding = loader->bad_records();
  const int64_t local = decoding.count() + (data.bad_records ? data.bad_records->count() : 0);
  Tensor total = full({1}, static_cast<double>(local), DType::Int64);
  comm.all_reduce(total, distributed::ReduceOp::Sum);
  summary.bad_records = total.item<int64_t>();
  const auto records = [](int64_t n) { return fmt::format("{} bad record{}", n, n == 1 ? "" : "s"); };
  if (summary.bad_records == bad_records_logged) {
    // Nothing new since the last report (e.g. the final epoch end was just reported).
    if (final) {
      log.note(summary.bad_records == 0 ? "data: no bad records skipped"
                                        : fmt::format("data: {} skipped in all (listed above)", records(summary.bad_records)));
    }
    return;
  }
  bad_records_logged = summary.bad_records;
  // Rank 0 logs the job's total and its own first messages; another rank's bad files may sit
  // on its own node, so each such rank prints its first messages to stderr itself.
  std::string first;
  for (const data::BadRecordLog* l : {data.bad_records, &decoding}) {
    if (l == nullptr || l->count() == 0) continue;
    for (const std::string& m : l->first_messages()) first += "\n  " + m;
  }
  log.note(fmt::format("data ({}): {} skipped so far on {} rank{}, {} on rank 0{}", when, records(summary.bad_records),
                       comm.world_size(), comm.world_size() == 1 ? "" : "s", local,
                       first.empty() ? "" : "; rank 0's first:" + first));
  if (comm.rank() != 0 && local > local_bad_records_logged) {
    local_bad_records_logged = local;
    std::fprintf(stderr, "rank %d data (%s): %s skipped; first:%s\n", comm.rank(), when.c_str(), records(local).c_str(),
                 first.c_str());
  }
}

Trainer::Trainer(TrainConfig config, distributed::Communicator& comm, TrainerOptions options)
    : impl_(std::make_unique<Impl>(std::move(config), comm, std::move(options))) {}

Trainer::~Trainer() = default;

TrainSummary Trainer::run() { return impl_->run(); }

}  // namespace ff::apps
