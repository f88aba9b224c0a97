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
//   - XNorm = mean over all 2P images of ||e|| (of the un-normalised flip-sum embedding);
//   - embeddings L2-normalised; distance of pair i = squared L2 between rows 2i and 2i+1;
//   - thresholds 0, 0.01, ..., 3.99 (numpy arange(0, 4, 0.01): 400 values);
//   - KFold(10, shuffle=False): fold k = contiguous pairs [k*P/10, (k+1)*P/10) (sklearn's split:
//     the first P % 10 folds get one extra pair); best threshold = the first threshold with the
//     highest train-fold accuracy; accuracy measured on the held-out fold;
//   - accuracy_mean / accuracy_std over the 10 folds, std is the population std (numpy np.std).
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
  double xnorm = 0;
  double best_threshold = 0;  // threshold chosen on all pairs (mean over folds of the fold choices
                              // is what insightface prints as best_thresholds; we report the mean)
  std::vector<double> fold_accuracies;
  // ROC over the 400 thresholds on all pairs (for --roc-csv): tpr[i], fpr[i] at thresholds[i].
  std::vector<double> thresholds, tpr, fpr;
};

// The protocol on precomputed embeddings: `embeddings` [2P, D] floating (flip-sum already applied),
// `issame` P entries. Pure function (CPU, float64 internally).
VerificationResult evaluate_embeddings(const Tensor& embeddings, const std::vector<bool>& issame,
                                       int num_folds = 10);

// Embeds target.images with `backbone` (switched to eval mode for the call and restored after),
// in batches, flip-summed when options.flip, then evaluate_embeddings().
VerificationResult evaluate_backbone(nn::Module& backbone, const ValidationTarget& target,
                                     const VerificationOptions& options = {});

}  // namespace ff::apps
