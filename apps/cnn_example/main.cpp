// The small-CNN example: trains a conv net on the synthetic 10-class glyph task on the CPU
// and saves a checkpoint. Run: build/apps/cnn_example [--epochs N] [--out DIR]
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>

#include "apps/cnn_example/synthetic_shapes.h"

int main(int argc, char** argv) {
  int epochs = 8;
  std::string out_dir = "out/cnn_example";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--epochs") && i + 1 < argc) {
      epochs = std::stoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--out") && i + 1 < argc) {
      out_dir = argv[++i];
    } else {
      fmt::print(stderr, "usage: {} [--epochs N] [--out DIR]\n", argv[0]);
      return 2;
    }
  }
  try {
    using namespace ff;
    manual_seed(1);
    const auto train = examples::make_shapes_dataset(4000, /*sample_seed=*/1);
    const auto test = examples::make_shapes_dataset(1000, /*sample_seed=*/2);
    auto net = examples::make_small_cnn();
    fmt::print("FaceFlow small-CNN example: {} parameters, {} train / {} held-out images, {} threads\n",
               net->num_parameters(), train.labels.numel(), test.labels.numel(), get_num_threads());
    fmt::print("{}\n", net->str());
    const auto t0 = std::chrono::steady_clock::now();
    const auto report = examples::train_small_cnn(*net, train, test, epochs, 64, 0.05, /*verbose=*/true);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("held-out accuracy {:.2f}% after {} epochs in {:.1f} s\n", 100.0 * report.test_accuracy, epochs, secs);
    const std::string path = out_dir + "/small_cnn.safetensors";
    std::filesystem::create_directories(out_dir);
    save_safetensors(path, net->state_dict(), {{"model", "small_cnn"}, {"epochs", std::to_string(epochs)}});
    fmt::print("saved {}\n", path);
    return report.test_accuracy >= 0.95 ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
