// SPDX-License-Identifier: Apache-2.0
// ResNet-18 (Gluon's resnet18_v1 with thumbnail = true and 10 classes) trained on Fashion-MNIST,
// at its own 28x28 or resized (--size 32).  The thumbnail stem (one 3x3 convolution, no max
// pool) keeps small images large enough for the four stages: 28 -> 28, 14, 7, 4 -> pool.
//
//   train_resnet [--data DIR] [--epochs 2] [--batch-size 64] [--lr 0.01] [--momentum 0.9]
//                [--wd 5e-4] [--size 28] [--limit N] [--test-limit N] [--threads 2] [--seed 42]
//                [--version 1] [--hybridize] [--output FILE]
//
// --limit N trains on the first N training images (0 = all 60000), --test-limit N evaluates on
// the first N test images.  Inputs are normalised with the training set's mean and std (as
// train_lenet); SGD with momentum and weight decay at a constant rate; Xavier initialisation.
// Each epoch prints the training loss and accuracy, the test accuracy and the speed.  With
// --hybridize the network runs as graphs (docs/hybridize.md); --output saves the parameters.
// An epoch of the full set takes a long while on two cores; CI runs --limit 64 on the committed
// 100 + 100 image fixture.
#include <gluino/data/dataloader.hpp>
#include <gluino/data/vision/datasets.hpp>
#include <gluino/data/vision/transforms.hpp>
#include <gluino/gluino.hpp>

#include "support/fashion_mnist.hpp"
#include "support/cli.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

using namespace gluino;

namespace {

struct Options {
  std::string data;
  int epochs = 2;
  std::size_t batch_size = 64;
  double lr = 0.01, momentum = 0.9, wd = 5e-4;
  std::size_t size = 28;
  std::size_t limit = 0, test_limit = 0;
  int threads = 2;
  std::uint64_t seed = 42;
  int version = 1;
  bool hybridize = false;
  std::string output;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help") {
      std::printf("usage: train_resnet [--data DIR] [--epochs N] [--batch-size N] [--lr X] [--momentum X] [--wd X]\n"
                  "                    [--size S] [--limit N] [--test-limit N] [--threads N] [--seed N]\n"
                  "                    [--version 1|2] [--hybridize] [--output FILE]\n");
      std::exit(0);
    }
    if (a == "--hybridize") {
      o.hybridize = true;
      continue;
    }
    GLUINO_CHECK(ValueError, i + 1 < argc, "train_resnet: ", a, " needs a value");
    const std::string v = argv[++i];
    if (a == "--data") o.data = v;
    else if (a == "--epochs") o.epochs = example::int_arg(a, v);
    else if (a == "--batch-size") o.batch_size = example::size_arg(a, v);
    else if (a == "--lr") o.lr = example::real_arg(a, v);
    else if (a == "--momentum") o.momentum = example::real_arg(a, v);
    else if (a == "--wd") o.wd = example::real_arg(a, v);
    else if (a == "--size") o.size = example::size_arg(a, v);
    else if (a == "--limit") o.limit = example::size_arg(a, v);
    else if (a == "--test-limit") o.test_limit = example::size_arg(a, v);
    else if (a == "--threads") o.threads = example::int_arg(a, v);
    else if (a == "--seed") o.seed = example::whole_number(a, v);
    else if (a == "--version") o.version = example::int_arg(a, v);
    else if (a == "--output") o.output = v;
    else detail::raise<ValueError>("train_resnet: unknown option '", a, "'");
  }
  GLUINO_CHECK(ValueError, o.epochs > 0 && o.batch_size > 0, "train_resnet: --epochs and --batch-size must be > 0");
  GLUINO_CHECK(ValueError, o.size >= 8, "train_resnet: --size must be at least 8, got ", o.size);
  if (!o.output.empty()) example::output_file("--output", o.output);  // now, not after the training
  return o;
}

/// The first `limit` images (0 = all), at size x size, normalised: (N, 1, size, size).
data::ArrayDataset<float> prepare(const data::vision::FashionMNIST<float>& raw, std::size_t limit, std::size_t size) {
  if (size == 28) return example::normalised(raw, limit);
  namespace tf = data::vision::transforms;
  const std::size_t n = limit > 0 ? std::min(limit, raw.size()) : raw.size();
  tf::Compose pipeline({tf::Resize(size), tf::ToTensor(), tf::Normalize(0.2860, 0.3530)});
  return data::ArrayDataset<float>(pipeline(raw.images().slice(0, n)), raw.labels().slice(0, n).copy());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    set_num_threads(o.threads);
    random::seed(o.seed);
    data::vision::FashionMNIST<float> train_raw(o.data, {.train = true}), test_raw(o.data, {.train = false});
    auto train_set = prepare(train_raw, o.limit, o.size);
    auto test_set = prepare(test_raw, o.test_limit, o.size);
    data::DataLoader<float> train_loader(train_set, {.batch_size = o.batch_size, .shuffle = true, .seed = o.seed});
    data::DataLoader<float> test_loader(test_set, {.batch_size = o.batch_size});

    // Gluon: net = vision.resnet18_v1(classes=10, thumbnail=True)
    auto net = model_zoo::get_resnet(o.version, 18, {.classes = 10, .thumbnail = true});
    net->initialize(init::Xavier{});
    (void)(*net)(nd::zeros<float>({1, 1, o.size, o.size}));  // resolves the stem's input channels
    if (o.hybridize) net->hybridize();
    Trainer trainer(net->collect_params(), "sgd", {{"learning_rate", o.lr}, {"momentum", o.momentum}, {"wd", o.wd}});
    loss::SoftmaxCrossEntropyLoss loss_fn;
    std::size_t n_params = 0;
    for (const auto& [name, p] : net->collect_params()) n_params += p->data().size();
    std::printf("gluino %s | ResNet-18 v%d (thumbnail, %zu parameters) | Fashion-MNIST %zux%zu: %zu train, "
                "%zu test | batch %zu | sgd lr %g momentum %g wd %g | %d threads%s\n",
                gluino::version().c_str(), o.version, n_params, o.size, o.size, train_set.size(), test_set.size(),
                o.batch_size, o.lr, o.momentum, o.wd, get_num_threads(), o.hybridize ? " | hybridized" : "");
    std::fflush(stdout);

    for (int epoch = 1; epoch <= o.epochs; ++epoch) {
      metric::Accuracy train_acc, test_acc;
      double loss_sum = 0;
      std::size_t seen = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (auto [x, y] : train_loader) {
        NDArray<float> out, l;
        {
          autograd::record rec;
          out = (*net)(x);
          l = loss_fn(out, y);
        }
        l.backward();
        trainer.step(x.shape(0));
        loss_sum += l.sum().asscalar();
        train_acc.update(y, out);
        seen += x.shape(0);
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      {
        autograd::predict_mode predict;
        for (auto [x, y] : test_loader) test_acc.update(y, (*net)(x));
      }
      std::printf("epoch %d/%d  loss %.4f  train-acc %.3f  test-acc %.3f  %.1f s  %.1f img/s\n", epoch, o.epochs,
                  loss_sum / double(seen), train_acc.get().second, test_acc.get().second, secs, double(seen) / secs);
      std::fflush(stdout);
    }
    if (!o.output.empty()) {
      net->save_parameters(o.output);
      std::printf("saved %s\n", o.output.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", example::error_line("train_resnet", e).c_str());
    return 1;
  }
}
