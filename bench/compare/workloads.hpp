// SPDX-License-Identifier: Apache-2.0
#pragma once
// The workloads of the gluino-vs-LibTorch comparison (issue: performance), shared by both sides.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace compare {

using Clock = std::chrono::steady_clock;
inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

/// One workload: a model, batch size, input side, train (forward + softmax cross-entropy +
/// backward + SGD step with momentum) or inference (forward only, predict mode).
struct Workload {
  std::string label;
  std::string model;  // lenet, alexnet, vgg11_quarter
  int batch = 256;
  int size = 28;
  bool train = true;
  int warmup = 2;
  int steps = 10;
  int threads = 2;
  double lr = 0.01;
  double momentum = 0.9;
  bool hybridize = false;  // gluino runs the network's graph (hybridize()); LibTorch stays eager
};

/// VGG-11 with a quarter of the channels: (number of convs, channels) per block.
inline std::vector<std::pair<int, int>> vgg11_quarter_arch() { return {{1, 16}, {1, 32}, {2, 64}, {2, 128}, {2, 128}}; }

/// Milliseconds per phase summed over the timed steps, then turned into per-step figures.
struct Result {
  double forward_ms = 0, backward_ms = 0, update_ms = 0;
  double img_per_s = 0;
  long peak_rss_kib = 0;
  void finish(const Workload& w) {
    const double total = forward_ms + backward_ms + update_ms;
    img_per_s = total > 0 ? 1000.0 * w.batch * w.steps / total : 0;
    forward_ms /= w.steps;
    backward_ms /= w.steps;
    update_ms /= w.steps;
  }
};

inline std::vector<Workload> default_workloads() {
  return {
      {"LeNet train, batch 256", "lenet", 256, 28, true, 3, 30},
      {"LeNet train, batch 64", "lenet", 64, 28, true, 5, 100},
      {"LeNet inference, batch 256", "lenet", 256, 28, false, 3, 40},
      {"LeNet inference, batch 1", "lenet", 1, 28, false, 50, 3000},
      {"LeNet inference, batch 1, gluino hybridized", "lenet", 1, 28, false, 50, 3000, 2, 0.01, 0.9, true},
      {"AlexNet train, batch 32", "alexnet", 32, 224, true, 1, 3},
      {"AlexNet train, batch 32, gluino hybridized", "alexnet", 32, 224, true, 1, 3, 2, 0.01, 0.9, true},
      {"VGG-11/4 train, batch 32", "vgg11_quarter", 32, 224, true, 1, 3},
  };
}

}  // namespace compare
