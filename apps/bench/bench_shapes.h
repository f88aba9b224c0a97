// The shapes the benchmarks of apps/bench share: GEMM cases and every distinct conv layer of
// IResNet and MobileFaceNet at 112x112 input (with how often each occurs in r100 / mbf), from the
// architectures in shared/reference/face_recognition.md section 4.
#pragma once

#include <cstdint>
#include <vector>

namespace ff::bench {

struct GemmCase {
  const char* what;
  int64_t m, k, n;
  bool linear;  // ff::linear (weight [N, K], BLAS trans_b) instead of ff::matmul
};

inline const std::vector<GemmCase> kGemmCases = {
    {"square 256", 256, 256, 256, false},
    {"square 512", 512, 512, 512, false},
    {"square 1024", 1024, 1024, 1024, false},
    {"square 2048", 2048, 2048, 2048, false},
    {"IResNet FC 25088->512, batch 128", 128, 25088, 512, true},
    {"IResNet FC 25088->512, batch 512", 512, 25088, 512, true},
    {"logits: 512-d x 16384 classes, batch 128", 128, 512, 16384, true},
    {"im2col: 3x3 conv 64->64 at 56x56, 1 image", 64, 576, 3136, false},
};

struct ConvLayer {
  const char* name;
  int64_t c_in, c_out, size, kernel, stride, groups;  // input size x size, padding kernel / 2
  int count;                                          // occurrences in r100 / mbf
  bool needs_input_grad = true;                       // false for the first layer (the image)
  int64_t padding = -1;                               // -1: kernel / 2
};

// IResNet (r100 counts: stages [3, 13, 30, 3]). Every block: conv3x3 in->out, stride 1, then
// conv3x3 out->out with the stage's stride on the first block, plus a 1x1 stride-2 shortcut.
inline const std::vector<ConvLayer> kIResNet = {
    {"stem 3->64", 3, 64, 112, 3, 1, 1, 1, false},
    {"stage1 first conv1 64->64", 64, 64, 112, 3, 1, 1, 1},
    {"stage1 first conv2 64->64 s2", 64, 64, 112, 3, 2, 1, 1},
    {"stage1 shortcut 1x1 s2", 64, 64, 112, 1, 2, 1, 1},
    {"stage1 body 64->64", 64, 64, 56, 3, 1, 1, 4},
    {"stage2 first conv1 64->128", 64, 128, 56, 3, 1, 1, 1},
    {"stage2 first conv2 128->128 s2", 128, 128, 56, 3, 2, 1, 1},
    {"stage2 shortcut 1x1 s2", 64, 128, 56, 1, 2, 1, 1},
    {"stage2 body 128->128", 128, 128, 28, 3, 1, 1, 24},
    {"stage3 first conv1 128->256", 128, 256, 28, 3, 1, 1, 1},
    {"stage3 first conv2 256->256 s2", 256, 256, 28, 3, 2, 1, 1},
    {"stage3 shortcut 1x1 s2", 128, 256, 28, 1, 2, 1, 1},
    {"stage3 body 256->256", 256, 256, 14, 3, 1, 1, 58},
    {"stage4 first conv1 256->512", 256, 512, 14, 3, 1, 1, 1},
    {"stage4 first conv2 512->512 s2", 512, 512, 14, 3, 2, 1, 1},
    {"stage4 shortcut 1x1 s2", 256, 512, 14, 1, 2, 1, 1},
    {"stage4 body 512->512", 512, 512, 7, 3, 1, 1, 4},
};

// MobileFaceNet (mbf: blocks (1, 4, 6, 2), scale 2). DepthWise(in, out, g, s) = 1x1 in->g,
// 3x3 depthwise g (stride s), 1x1 g->out.
inline const std::vector<ConvLayer> kMobileFaceNet = {
    {"conv1 3->128 s2", 3, 128, 112, 3, 2, 1, 1, false},
    {"conv2 128->128 groups 64", 128, 128, 56, 3, 1, 64, 1},
    {"dw1 expand 1x1 128->128", 128, 128, 56, 1, 1, 1, 1},
    {"dw1 depthwise 128 s2", 128, 128, 56, 3, 2, 128, 1},
    {"1x1 128->128 @28", 128, 128, 28, 1, 1, 1, 9},
    {"res1 depthwise 128", 128, 128, 28, 3, 1, 128, 4},
    {"dw2 expand 1x1 128->256", 128, 256, 28, 1, 1, 1, 1},
    {"dw2 depthwise 256 s2", 256, 256, 28, 3, 2, 256, 1},
    {"1x1 256->256 @14", 256, 256, 14, 1, 1, 1, 13},
    {"res2 depthwise 256", 256, 256, 14, 3, 1, 256, 6},
    {"dw3 expand 1x1 256->512", 256, 512, 14, 1, 1, 1, 1},
    {"dw3 depthwise 512 s2", 512, 512, 14, 3, 2, 512, 1},
    {"dw3 project 1x1 512->256", 512, 256, 7, 1, 1, 1, 1},
    {"1x1 256->256 @7", 256, 256, 7, 1, 1, 1, 4},
    {"res3 depthwise 256", 256, 256, 7, 3, 1, 256, 2},
    {"conv_sep 1x1 256->512", 256, 512, 7, 1, 1, 1, 1},
    {"GDC depthwise 7x7 512", 512, 512, 7, 7, 1, 512, 1, true, 0},
};

}  // namespace ff::bench
