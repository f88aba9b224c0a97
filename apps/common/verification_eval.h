// Face verification evaluation: the 10-fold protocol of insightface's eval/verification.py
// (shared/reference/face_recognition.md §10, formats.md §2.5), used by apps/val and by the
// trainer's periodic verification.
//
//   ValidationTarget lfw = load_validation_target("data/val/lfw.bin");   // decoded once
//   VerificationResult r = evaluate_backbone(*backbone, lfw, {.batch_size = 64, .flip = true});
//   fmt::print("{} Accuracy-Flip {:.5f}+-{:.5f} XNorm {:.5f}\n", lfw.name, r.accuracy_mean, ...);
//
// Protocol (exactly insightface's):
//   - each image -> embedding e (backbone in eval mode); with flip, e = emb(x) + emb(flip_lr(x));
//   - XNorm = mean L2 norm of the raw network outputs: with flip, over all 4P outputs (the 2P
//     originals and the 2P flips, as verification.py averages over both embedding lists), not
//     of the flip-sums; without flip, over the 2P outputs;
//   - embeddings L2-normalised; distance of pair i = squared L2 between rows 2i and 2i+1;
//   - thresholds 0, 0.01, ..., 3.99 (numpy arange(0, 4, 0.01): 400 values);
//   - KFold(10, shuffle=False): fold k = contiguous pairs [k*P/10, (k+1)*P/10) (sklearn's split:
//     the first P % 10 folds get one extra pair); best threshold = the first threshold with the
//     highest train-fold accuracy; accuracy measured on the held-out fold;
//   - accuracy_mean / accuracy_std over the 10 folds, std is the population std (numpy np.std).
// The pure math (fold ranges, thresholds) is in verification_protocol.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>
#include "framework/core/tensor.h"
#include "framework/nn/module.h"

namespace ff::apps {

// A decoded validation set: images as float32 NCHW normalised (x - 127.5) / 127.5, RGB.
struct ValidationTarget {
  std::string name;        // file stem: "lfw", "cfp_fp", "agedb_30"
  std::string path;
  Tensor images;           // [2P, 3, S, S] float32 CPU
  std::vector<bool> issame;  // P
};

// Reads and decodes `path` (data::read_verification_bin + JPEG / raw decode; other sizes are
// resized to image_size as the loader does). Errors name the file and the image index.
ValidationTarget load_validation_target(const std::string& path, int image_size = 112);

struct VerificationOptions {
  int64_t batch_size = 64;
  bool flip = true;
  int num_folds = 10;
  Device device;  // where the backbone runs (its parameters must already be there)
};

struct VerificationResult {
  double accuracy_mean = 0;   // "Accuracy-Flip" (or plain accuracy with flip = false)
  double accuracy_std = 0;    // population std over folds
  double xnorm = 0;           // see the protocol above
  // Mean over the folds of each fold's chosen threshold (insightface's best_thresholds.mean()).
  double best_threshold = 0;
  std::vector<double> fold_accuracies;  // num_folds held-out accuracies, fold order
  std::vector<double> fold_thresholds;  // num_folds thresholds chosen on the training folds
  // ROC over the 400 thresholds on all pairs (for --roc-csv): tpr[i], fpr[i] at thresholds[i]
  // ("same" predicted when dist < threshold; a rate with an empty denominator is 0).
  std::vector<double> thresholds, tpr, fpr;
};

// The protocol on precomputed embeddings: `embeddings` [2P, D] floating (flip-sum already applied),
// `issame` P entries, P >= num_folds >= 2. Pure function (CPU, float64 internally). xnorm here is
// the mean norm of the given rows (evaluate_backbone replaces it by the raw-output XNorm).
VerificationResult evaluate_embeddings(const Tensor& embeddings, const std::vector<bool>& issame,
                                       int num_folds = 10);

// The embedding step of evaluate_backbone, for callers that want the vectors themselves.
struct TargetEmbeddings {
  Tensor embeddings;  // [N, D] float32 CPU: emb(x) + emb(flip_lr(x)) with flip, else emb(x)
  double xnorm = 0;   // mean L2 norm of the raw outputs (N of them, or 2N with flip)
};
// `images` [N, 3, S, S] floating CPU (or on options.device). Same mode/no-grad/device handling as
// evaluate_backbone.
TargetEmbeddings embed_images(nn::Module& backbone, const Tensor& images, const VerificationOptions& options = {});

// Embeds target.images with `backbone` (switched to eval mode for the call and restored after),
// in batches under no-grad on options.device, flip-summed when options.flip, then
// evaluate_embeddings(). The backbone's output must be [B, D].
VerificationResult evaluate_backbone(nn::Module& backbone, const ValidationTarget& target,
                                     const VerificationOptions& options = {});

}  // namespace ff::apps
