// One optimizer step of the trainer (arcface_torch train_v2.py order): for each of gradient_acc
// micro-batches scale(loss).backward() (no gradient sync but on the last; a 16-bit body sums its
// micro-batch gradients in the float32 masters and averages them over the ranks after the last
// one); then unscale,
// clip_grad_norm_(backbone, clip), step both optimizers, update the scale, zero the gradients.
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <optional>

#include "apps/common/trainer_impl.h"
#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "framework/optim/clip_grad.h"
#include "ops/elementwise/binary.h"
#include "ops/index/index.h"
#include "ops/optim/foreach.h"
#include "ops/tensor_ops/fill.h"

namespace ff::apps {
namespace {

// fp16: this many skipped steps in a row means the run is broken, not unlucky.
constexpr int64_t kMaxConsecutiveSkips = 50;

bool all_finite(const Tensor& t) {
  if (!t.defined() || t.numel() == 0) return true;
  return std::isfinite(to_vector<double>(foreach_norm({t}, 2.0))[0]);
}

}  // namespace

Trainer::Impl::StepOutcome Trainer::Impl::train_step() {
  // What a step that turns out non-finite must give back: BatchNorm running statistics (the
  // forward updates them before anyone can look at the loss) and the Partial FC sampling step.
  std::vector<std::pair<Tensor, Tensor>> buffer_snapshot;
  for (const auto& [name, b] : backbone->named_buffers()) buffer_snapshot.emplace_back(b, b.clone());
  const int64_t pfc_step_before = pfc->step();

  // A 16-bit body accumulating over micro-batches sums its gradients in the float32 masters
  // (MasterWeights::accumulate_grads); data parallel then averages those once after the last
  // micro-batch instead of overlapping with its backward.
  const bool accumulate_in_masters = master->num_low_precision() > 0 && cfg.gradient_acc > 1;
  double loss_sum = 0;
  for (int64_t micro = 0; micro < cfg.gradient_acc; ++micro) {
    data::Batch batch;
    const bool got = loader->next(batch);
    FF_ASSERT(got, "epoch {} ran out of batches at batch {} (steps_per_epoch {}, gradient_acc {})", epoch,
              batch_in_epoch + micro, steps_per_epoch, cfg.gradient_acc);
    std::optional<distributed::DataParallel::NoSyncGuard> no_sync;
    if (dp && (accumulate_in_masters || micro + 1 < cfg.gradient_acc)) no_sync.emplace(dp->no_sync());
    const Tensor embeddings = backbone->forward(batch.images);
    // Host labels when the loader kept them: Partial FC samples on the host, and copying the
    // device labels back would make the host wait for the backbone's forward first.
    const Tensor loss = pfc->forward(embeddings, batch.host_labels.defined() ? batch.host_labels : batch.labels);
    scaler->scale(loss).backward();
    if (accumulate_in_masters) master->accumulate_grads();
    loss_sum += loss.item<double>();
  }
  if (accumulate_in_masters) {
    if (dp) master->average_grads(comm);
  } else {
    if (dp) dp->finish_gradient_sync();
    master->grads_to_master();
  }
  StepOutcome out;
  out.loss = loss_sum / static_cast<double>(cfg.gradient_acc);

  heads::SparseRows fc_grad = pfc->sparse_grad();
  bool backbone_inf = false;
  if (scaler->enabled()) {
    scaler->unscale_(*backbone_opt);
    backbone_inf = scaler->found_inf(*backbone_opt);
    if (fc_grad.defined()) fc_grad.values = mul(fc_grad.values, 1.0 / scaler->get_scale());
  }
  const bool fc_finite = all_finite(fc_grad.values);
  if (!backbone_inf) {
    out.grad_norm = cfg.clip_grad_norm > 0 ? optim::clip_grad_norm_(master->params(), cfg.clip_grad_norm)
                                           : optim::grad_total_norm(master->params());
  } else {
    out.grad_norm = std::numeric_limits<double>::infinity();
  }
  bool finite = std::isfinite(out.loss) && std::isfinite(out.grad_norm) && fc_finite;
  if (comm.world_size() > 1) {
    // The FC gradient is per shard: every rank must take the same branch below.
    Tensor bad = full({1}, finite ? 0.0 : 1.0, DType::Int64);
    comm.all_reduce(bad, distributed::ReduceOp::Max);
    finite = bad.item<int64_t>() == 0;
  }

  if (!finite) {
    {
      autograd::NoGradGuard no_grad;
      for (auto& [live, saved] : buffer_snapshot) live.detach().copy_(saved);
    }
    master->zero_grad();
    pfc->clear_sparse_grad();
    if (!scaler->enabled() || ++consecutive_skips >= kMaxConsecutiveSkips) {
      pfc->set_step(pfc_step_before);
      stop_non_finite(out.loss, out.grad_norm, fc_finite);
    }
    // fp16: skip the step and back off. GradScaler backs off by itself when it saw the inf in
    // the backbone's gradients; a non-finite loss or FC gradient alone is told to it, so that
    // the growth count restarts too (arcface_torch's single optimizer would see the FC's inf).
    if (backbone_inf) scaler->update();
    else scaler->update_after_overflow();
    out.skipped = true;
    return out;
  }
  consecutive_skips = 0;

  fc_opt->set_lr(0, backbone_opt->lr(0));
  if (fc_sparse) {
    fc_grad_ready = fc_grad;  // SparseRowSGD pulls it at step()
  } else if (fc_grad.defined()) {
    // AdamW: the dense shard gradient, zero on unsampled rows.
    const int64_t dim = pfc->weight.size(1);
    const Tensor index = fc_grad.rows.view({-1, 1}).expand({-1, dim}).contiguous();
    pfc->weight.set_grad(scatter_add(zeros_like(pfc->weight), 0, index, fc_grad.values));
  }
  if (scaler->enabled()) {
    scaler->step(*backbone_opt);  // already unscaled and finite: steps
  } else {
    backbone_opt->step();
  }
  fc_opt->step();
  if (scaler->enabled()) scaler->update();
  master->master_to_model();
  master->zero_grad();
  fc_opt->zero_grad();
  pfc->clear_sparse_grad();
  fc_grad_ready = {};
  return out;
}

void Trainer::Impl::stop_non_finite(double loss, double grad_norm, bool fc_grad_finite) {
  const int64_t bad_step = global_step + 1;
  std::string what = fmt::format("loss {}, backbone gradient norm {}{}", loss, grad_norm,
                                 fc_grad_finite ? "" : ", non-finite FC gradient");
  std::string saved = "no checkpoint saved (save_all_states is off)";
  if (cfg.save_all_states) {
    // The model, optimizers and position are those after the last good step: nothing of the bad
    // one was applied, and its BatchNorm statistics and sampling step were rolled back.
    saved = "last good state saved to " + save_checkpoint();
  }
  FF_THROW("train: non-finite values at step {} (epoch {}, {}{}); {}. Lower the lr, enable clipping, or check "
           "the data; resume from the checkpoint with resume=true",
           bad_step, epoch, what, scaler->enabled() ? fmt::format(", {} fp16 steps skipped in a row", consecutive_skips) : "",
           saved);
}

}  // namespace ff::apps
