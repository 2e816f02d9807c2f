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
  bool channels_last = false;  // LibTorch side: NHWC memory format for the input and the conv weights
};

/// VGG-11 with a quarter of the channels: (number of convs, channels) per block.
inline std::vector<std::pair<int, int>> vgg11_quarter_arch() { return {{1, 16}, {1, 32}, {2, 64}, {2, 128}, {2, 128}}; }

/// One layer of a model, for counting its arithmetic: a convolution (out channels, kernel,
/// stride, padding), a max pooling (kernel, stride) or a dense layer (out units).
struct LayerSpec {
  char kind;  // 'c' conv, 'p' pool, 'd' dense
  int out = 0, k = 1, stride = 1, pad = 0;
};

inline std::vector<LayerSpec> layer_specs(const std::string& model) {
  if (model == "lenet") return {{'c', 20, 5}, {'p', 0, 2, 2}, {'c', 50, 3}, {'p', 0, 2, 2}, {'d', 128}, {'d', 10}};
  if (model == "alexnet")
    return {{'c', 96, 11, 4},       {'p', 0, 3, 2},        {'c', 256, 5, 1, 2}, {'p', 0, 3, 2},
            {'c', 384, 3, 1, 1},    {'c', 384, 3, 1, 1},   {'c', 256, 3, 1, 1}, {'p', 0, 3, 2},
            {'d', 4096},            {'d', 4096},           {'d', 10}};
  std::vector<LayerSpec> v;
  for (auto [convs, ch] : vgg11_quarter_arch()) {
    for (int i = 0; i < convs; ++i) v.push_back({'c', ch, 3, 1, 1});
    v.push_back({'p', 0, 2, 2});
  }
  for (int units : {4096, 4096, 10}) v.push_back({'d', units});
  return v;
}

/// Floating-point operations per image (2 per multiply-add) of the convolutions and dense
/// layers: the forward pass for inference; for training forward + backward, counted as the
/// work needed: 3x the forward's multiply-adds, less the first layer's input gradient, which
/// nobody computes.  (Pooling, activations, loss and update are left out: under 1%.)
inline double flops_per_image(const Workload& w) {
  int c = 1, h = w.size;
  double total = 0, first = -1;
  for (const LayerSpec& l : layer_specs(w.model)) {
    double macs = 0;
    if (l.kind == 'c') {
      const int ho = (h + 2 * l.pad - l.k) / l.stride + 1;
      macs = double(l.out) * c * l.k * l.k * ho * ho;
      c = l.out, h = ho;
    } else if (l.kind == 'p') {
      h = (h - l.k) / l.stride + 1;
    } else {
      macs = double(c) * h * h * l.out;
      c = l.out, h = 1;
    }
    if (macs > 0 && first < 0) first = macs;
    total += macs;
  }
  return w.train ? 2.0 * (3.0 * total - first) : 2.0 * total;
}

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
      {"AlexNet train, batch 32, gluino hybridized", "alexnet", 32, 224, true, 2, 3, 2, 0.01, 0.9, true},
      {"VGG-11/4 train, batch 32", "vgg11_quarter", 32, 224, true, 1, 3},
      {"VGG-11/4 train, batch 32, gluino hybridized", "vgg11_quarter", 32, 224, true, 2, 3, 2, 0.01, 0.9, true},
  };
}

}  // namespace compare
