// Decoding validation sets and embedding them with a backbone; the protocol itself is in
// verification_protocol.cpp.
#include "apps/common/verification_eval.h"

#include <cmath>
#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>
#include <utility>

#include "apps/common/verification_protocol.h"
#include "data/decode/face_decode.h"
#include "data/loader/augment.h"
#include "data/verification/verification_bin.h"
#include "framework/autograd/autograd.h"
#include "framework/common/check.h"
#include "framework/core/parallel.h"
#include "ops/index/index.h"

namespace ff::apps {

ValidationTarget load_validation_target(const std::string& path, int image_size) {
  FF_CHECK(image_size > 0, "validation set '{}': bad image size {}", path, image_size);
  std::error_code ec;
  FF_CHECK(std::filesystem::is_regular_file(path, ec),
           "validation set '{}' not found (expected an insightface .bin pickle such as lfw.bin)", path);
  const data::VerificationSet set = data::read_verification_bin(path);
  FF_CHECK(!set.issame.empty(), "validation set '{}' holds no pairs", path);
  FF_CHECK(set.images.size() == 2 * set.issame.size(), "validation set '{}': {} images for {} pairs", path,
           set.images.size(), set.issame.size());

  ValidationTarget target;
  target.path = path;
  target.name = std::filesystem::path(path).stem().string();
  target.issame = set.issame;
  const int64_t n = static_cast<int64_t>(set.images.size());
  const int64_t plane = 3 * static_cast<int64_t>(image_size) * image_size;
  target.images = Tensor::empty({n, 3, image_size, image_size}, DType::Float32);
  float* out = target.images.data<float>();

  // Decoding dominates loading a 12000-image set, so it runs on all threads. An exception must
  // not leave an OpenMP region: each chunk catches its own, and the one of the lowest image
  // index is rethrown afterwards (the same error whatever the thread count).
  std::mutex error_mutex;
  int64_t error_index = n;
  std::exception_ptr error;
  parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    data::RgbImage image, scratch;
    for (int64_t i = begin; i < end; ++i) {
      try {
        const auto& bytes = set.images[static_cast<size_t>(i)];
        data::decode_face_image(bytes.data(), bytes.size(), fmt::format("validation set '{}' image {}", path, i),
                                image_size, image_size, image, scratch);
        data::to_normalized_chw(image, /*flip=*/false, out + i * plane);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (i < error_index) {
          error_index = i;
          error = std::current_exception();
        }
        return;  // the rest of this chunk cannot lower error_index below i
      }
    }
  });
  if (error) std::rethrow_exception(error);
  return target;
}

namespace {

// Puts every module of a tree in eval mode and restores each one's own mode on destruction (a
// plain train(prev) would overwrite children whose mode differed from the root's, e.g. a frozen
// BatchNorm kept in eval mode during training).
class EvalModeGuard {
 public:
  explicit EvalModeGuard(nn::Module& root) {
    for (nn::Module* m : root.modules()) modes_.emplace_back(m, m->is_training());
    root.eval();
  }
  ~EvalModeGuard() {
    // modules() lists parents before children; train() is recursive, so restoring in that order
    // lets each child's own setting win.
    for (auto& [module, training] : modes_) module->train(training);
  }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  std::vector<std::pair<nn::Module*, bool>> modes_;
};

// Raw network outputs for one batch, as a contiguous float32 CPU tensor [B, D].
Tensor run_batch(nn::Module& backbone, const Tensor& x, int64_t expected_rows) {
  const Tensor y = backbone.forward(x);
  FF_CHECK(y.dim() == 2 && y.size(0) == expected_rows,
           "verification: the backbone returned {} for a batch of {} images; expected [{}, D]", y.describe(),
           expected_rows, expected_rows);
  return y.detach().to(Device()).to(DType::Float32).contiguous();
}

double sum_of_row_norms(const Tensor& rows) {
  const int64_t n = rows.size(0), d = rows.size(1);
  const float* p = rows.data<float>();
  double total = 0;
  for (int64_t r = 0; r < n; ++r) {
    double sq = 0;
    for (int64_t k = 0; k < d; ++k) sq += static_cast<double>(p[r * d + k]) * p[r * d + k];
    total += std::sqrt(sq);
  }
  return total;
}

}  // namespace

TargetEmbeddings embed_images(nn::Module& backbone, const Tensor& images, const VerificationOptions& options) {
  FF_CHECK(images.defined() && images.dim() == 4 && images.size(1) == 3 && is_floating(images.dtype()),
           "verification: expected images [N, 3, S, S] floating, got {}",
           images.defined() ? images.describe() : std::string("an undefined tensor"));
  FF_CHECK(options.batch_size >= 1, "verification: batch size must be at least 1, got {}", options.batch_size);
  const int64_t n = images.size(0), width = images.size(3);
  FF_CHECK(n >= 1, "verification: no images to embed");

  autograd::NoGradGuard no_grad;
  EvalModeGuard eval_mode(backbone);

  // flip_lr of an NCHW batch: the columns (dim 3) in reverse order.
  Tensor reversed_columns;
  if (options.flip) {
    Tensor idx = Tensor::empty({width}, DType::Int64);
    for (int64_t c = 0; c < width; ++c) idx.data<int64_t>()[c] = width - 1 - c;
    reversed_columns = idx.to(options.device);
  }

  TargetEmbeddings result;
  double norm_sum = 0;
  int64_t norm_count = 0;
  for (int64_t start = 0; start < n; start += options.batch_size) {
    const int64_t count = std::min(options.batch_size, n - start);
    const Tensor x = images.narrow(0, start, count).to(options.device);
    Tensor emb = run_batch(backbone, x, count);
    norm_sum += sum_of_row_norms(emb);
    norm_count += count;
    if (options.flip) {
      const Tensor emb_flip = run_batch(backbone, index_select(x, 3, reversed_columns), count);
      norm_sum += sum_of_row_norms(emb_flip);
      norm_count += count;
      // Summed in float32, as verification.py adds its two float32 embedding arrays.
      emb = (emb + emb_flip).contiguous();
    }
    if (!result.embeddings.defined()) result.embeddings = Tensor::empty({n, emb.size(1)}, DType::Float32);
    FF_ASSERT(emb.size(1) == result.embeddings.size(1), "embedding width changed from {} to {} between batches",
              result.embeddings.size(1), emb.size(1));
    std::memcpy(result.embeddings.data<float>() + start * emb.size(1), emb.data<float>(),
                static_cast<size_t>(emb.numel()) * sizeof(float));
  }
  result.xnorm = norm_sum / static_cast<double>(norm_count);
  return result;
}

VerificationResult evaluate_backbone(nn::Module& backbone, const ValidationTarget& target,
                                     const VerificationOptions& options) {
  FF_CHECK(target.images.defined() && target.images.dim() == 4 &&
               target.images.size(0) == 2 * static_cast<int64_t>(target.issame.size()),
           "verification of '{}': {} images for {} pairs (need 2 per pair)", target.path,
           target.images.defined() ? target.images.describe() : std::string("undefined"), target.issame.size());
  TargetEmbeddings embedded;
  try {
    embedded = embed_images(backbone, target.images, options);
  } catch (const Error& e) {
    FF_THROW("verification of '{}': {}", target.path, e.what());
  }
  VerificationResult result = evaluate_embeddings(embedded.embeddings, target.issame, options.num_folds);
  result.xnorm = embedded.xnorm;
  return result;
}

}  // namespace ff::apps
