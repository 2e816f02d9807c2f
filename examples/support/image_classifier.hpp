// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared by train_alexnet and train_vgg: Fashion-MNIST resized to 224x224 on the fly, a training
// loop with a progress line per N steps, and test accuracy.  `--limit N` stops an epoch after N
// batches (CI runs a few).
#include <gluino/data/dataloader.hpp>
#include <gluino/data/vision/datasets.hpp>
#include <gluino/data/vision/transforms.hpp>
#include <gluino/gluino.hpp>
#include "cli.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

namespace example {

struct TrainOptions {
  std::string data;
  int epochs = 1;
  std::size_t batch_size = 32;
  double lr = 0.01;
  std::size_t limit = 0;       // batches per epoch (0 = all)
  std::size_t test_limit = 0;  // test batches (0 = all)
  int threads = 2;
  std::uint64_t seed = 42;
};

inline TrainOptions parse(int argc, char** argv, const char* program, TrainOptions o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help") {
      std::printf("usage: %s [--data DIR] [--epochs N] [--batch-size N] [--lr X] [--limit BATCHES] "
                  "[--test-limit BATCHES] [--threads N] [--seed N]\n", program);
      std::exit(0);
    }
    GLUINO_CHECK(gluino::ValueError, i + 1 < argc, program, ": ", a, " needs a value");
    const std::string v = argv[++i];
    if (a == "--data") o.data = v;
    else if (a == "--epochs") o.epochs = example::int_arg(a, v);
    else if (a == "--batch-size") o.batch_size = example::size_arg(a, v);
    else if (a == "--lr") o.lr = example::real_arg(a, v);
    else if (a == "--limit") o.limit = example::size_arg(a, v);
    else if (a == "--test-limit") o.test_limit = example::size_arg(a, v);
    else if (a == "--threads") o.threads = example::int_arg(a, v);
    else if (a == "--seed") o.seed = example::whole_number(a, v);
    else gluino::detail::raise<gluino::ValueError>(program, ": unknown option '", a, "'");
  }
  return o;
}

/// Trains `net` (1x224x224 inputs, 10 classes) with SGD + momentum and prints per-epoch figures.
inline void train_classifier(gluino::nn::Sequential& net, const std::string& name, const TrainOptions& o) {
  using namespace gluino;
  namespace tf = gluino::data::vision::transforms;
  set_num_threads(o.threads);
  gluino::random::seed(o.seed);
  data::vision::FashionMNIST<float> train_raw(o.data, {.train = true}), test_raw(o.data, {.train = false});
  tf::Compose pipeline({tf::Resize(224), tf::ToTensor(), tf::Normalize(0.2860, 0.3530)});
  auto train_set = train_raw.transform_first(pipeline);
  auto test_set = test_raw.transform_first(pipeline);
  data::DataLoader<float> train_loader(train_set, {.batch_size = o.batch_size, .shuffle = true, .seed = o.seed,
                                                   .prefetch = true});
  data::DataLoader<float> test_loader(test_set, {.batch_size = o.batch_size, .prefetch = true});

  net.initialize(init::Xavier{});
  (void)net(nd::zeros<float>({1, 1, 224, 224}));
  net.summary(nd::zeros<float>({1, 1, 224, 224}));
  Trainer trainer(net.collect_params(), "sgd", {{"learning_rate", o.lr}, {"momentum", 0.9}, {"wd", 5e-4}});
  loss::SoftmaxCrossEntropyLoss loss_fn;
  std::printf("gluino %s | %s | Fashion-MNIST at 224x224 | batch %zu | sgd lr %g | %d threads%s\n",
              gluino::version().c_str(), name.c_str(), o.batch_size, o.lr, get_num_threads(),
              o.limit ? (" | " + std::to_string(o.limit) + " batches per epoch").c_str() : "");
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    metric::Accuracy acc;
    double loss_sum = 0;
    std::size_t seen = 0, step = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (auto [x, y] : train_loader) {
      NDArray<float> out, l;
      {
        autograd::record rec;
        out = net(x);
        l = loss_fn(out, y);
      }
      l.backward();
      trainer.step(x.shape(0));
      loss_sum += l.sum().asscalar();
      acc.update(y, out);
      seen += x.shape(0);
      if (++step % 10 == 0) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("  step %zu  loss %.3f  %.1f img/s\n", step, loss_sum / double(seen), double(seen) / s);
        std::fflush(stdout);
      }
      if (o.limit && step >= o.limit) break;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    metric::Accuracy test_acc;
    {
      autograd::predict_mode predict;
      std::size_t tb = 0;
      for (auto [x, y] : test_loader) {
        test_acc.update(y, net(x));
        if (o.test_limit && ++tb >= o.test_limit) break;
      }
    }
    std::printf("epoch %d/%d  loss %.3f  train-acc %.3f  test-acc %.3f  %.1f s  %.1f img/s\n", epoch, o.epochs,
                loss_sum / double(seen), acc.get().second, test_acc.get().second, secs, double(seen) / secs);
    std::fflush(stdout);
  }
}

}  // namespace example
