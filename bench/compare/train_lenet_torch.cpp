// SPDX-License-Identifier: Apache-2.0
// The main job ported to LibTorch, to compare per-epoch training time with
// examples/train_lenet.cpp on the real data: the same LeNet, the same recipe (inputs normalised
// with (0.2860, 0.3530), Xavier-uniform weights and zero biases, SGD with momentum 0.9 and weight
// decay 5e-4 under gluino's one-cycle schedule peaking at 0.1, batch 256, a fresh shuffle per
// epoch), the same threads.  Fashion-MNIST is read with gluino's reader; the images are then one
// torch tensor, so LibTorch's epoch pays for no data pipeline (gluino's pays for its DataLoader).
// Each epoch's seconds cover the training loop only, as train_lenet's do; the test set is
// evaluated after it.
//
//   OPENBLAS_NUM_THREADS=1 train_lenet_torch [--data DIR] [--epochs 10] [--threads 2]
//
// Built with the comparison when CMake finds Torch (bench/CMakeLists.txt).  LibTorch's SGD puts
// the learning rate outside the momentum buffer and MXNet's (gluino's) inside; with a schedule
// the two differ slightly, so accuracies are comparable, not identical.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <gluino/data/vision/datasets.hpp>
#include <gluino/data/vision/transforms.hpp>
#include <gluino/optim/lr_scheduler.hpp>

#include "torch_side.hpp"

namespace {

/// The images through train_lenet's own transforms (ToTensor, Normalize(0.2860, 0.3530)):
/// (N, 1, 28, 28) floats, copied into a tensor; labels as int64.
std::pair<torch::Tensor, torch::Tensor> load(const std::string& root, bool train) {
  namespace tf = gluino::data::vision::transforms;
  gluino::data::vision::FashionMNIST<float> ds(root, {.train = train});
  const auto images = tf::Compose({tf::ToTensor(), tf::Normalize(0.2860, 0.3530)})(ds.images());
  const auto labels = ds.labels();
  const auto n = static_cast<std::int64_t>(images.shape(0));
  auto x = torch::from_blob(const_cast<float*>(images.data()), {n, 1, 28, 28}, torch::kFloat32).clone();
  auto y = torch::from_blob(const_cast<float*>(labels.data()), {n}, torch::kFloat32).to(torch::kLong);
  return {x, y};
}

double accuracy(torch::nn::Sequential& net, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard ng;
  net->eval();
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < x.size(0); i += 1000) {
    auto xb = x.slice(0, i, std::min(i + 1000, x.size(0)));
    auto yb = y.slice(0, i, std::min(i + 1000, x.size(0)));
    correct += net->forward(xb).argmax(1).eq(yb).sum().item<std::int64_t>();
  }
  return double(correct) / double(x.size(0));
}

}  // namespace

int main(int argc, char** argv) {
  std::string root;
  int epochs = 10, threads = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--data" && i + 1 < argc) root = argv[++i];
    else if (a == "--epochs" && i + 1 < argc) epochs = std::stoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: train_lenet_torch [--data DIR] [--epochs N] [--threads N]\n");
      return 2;
    }
  }
  if (epochs < 1 || threads < 1) {
    std::fprintf(stderr, "train_lenet_torch: epochs and threads must be positive\n");
    return 2;
  }
  try {
    torch::manual_seed(42);
    torch::set_num_threads(threads);
    const auto [x_train, y_train] = load(root, true);
    const auto [x_test, y_test] = load(root, false);
    auto net = compare::torch_lenet();
    for (auto& p : net->named_parameters()) {
      if (p.key().find("weight") != std::string::npos) torch::nn::init::xavier_uniform_(p.value());
      else torch::nn::init::zeros_(p.value());
    }
    const std::int64_t batch = 256, n = x_train.size(0), steps_per_epoch = (n + batch - 1) / batch;
    torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(5e-4));
    gluino::optim::OneCycleScheduler schedule(static_cast<std::size_t>(steps_per_epoch * epochs), {.base_lr = 0.1});
    std::printf("LibTorch %s | LeNet | Fashion-MNIST: %lld train / %lld test | batch %lld | sgd lr 0.1 one-cycle | %d threads\n",
                TORCH_VERSION, static_cast<long long>(n), static_cast<long long>(x_test.size(0)),
                static_cast<long long>(batch), threads);
    std::size_t update = 0;
    double total_train_s = 0;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      const auto t0 = std::chrono::steady_clock::now();
      net->train();
      const auto order = torch::randperm(n, torch::kLong);
      double loss_sum = 0;
      std::int64_t correct = 0;
      for (std::int64_t i = 0; i < n; i += batch) {
        const auto idx = order.slice(0, i, std::min(i + batch, n));
        const auto xb = x_train.index_select(0, idx), yb = y_train.index_select(0, idx);
        for (auto& g : opt.param_groups()) static_cast<torch::optim::SGDOptions&>(g.options()).lr(schedule(++update));
        opt.zero_grad();
        const auto out = net->forward(xb);
        const auto loss = torch::nn::functional::cross_entropy(out, yb);
        loss.backward();
        opt.step();
        loss_sum += loss.item<double>() * double(xb.size(0));
        correct += out.argmax(1).eq(yb).sum().item<std::int64_t>();
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      total_train_s += secs;
      const double test_acc = accuracy(net, x_test, y_test);
      std::printf("epoch %d/%d  loss %.3f  train-acc %.3f  test-acc %.3f  %.1f s  %.0f img/s\n", epoch, epochs,
                  loss_sum / double(n), double(correct) / double(n), test_acc, secs, double(n) / secs);
      std::fflush(stdout);
    }
    std::printf("training loops: %.1f s in all, %.1f s per epoch\n", total_train_s, total_train_s / epochs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_lenet_torch: %s\n", e.what());
    return 1;
  }
  return 0;
}
