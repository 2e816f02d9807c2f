// SPDX-License-Identifier: Apache-2.0
// The main job: train the tutorial's LeNet on Fashion-MNIST and show it working.
//
//   train_lenet [--data DIR] [--epochs 10] [--batch-size 256] [--optimizer sgd|adam] [--lr 0.1]
//               [--momentum 0.9] [--wd 5e-4] [--schedule onecycle|constant] [--threads 2]
//               [--seed 42] [--output lenet.safetensors] [--metrics lenet-metrics.csv]
//               [--curve lenet-curve.svg] [--limit N] [--resume]
//
// Default recipe (why: see README): inputs normalised with the training set's mean and std,
// Xavier initialisation, SGD with momentum 0.9 and weight decay 5e-4 under a one-cycle
// learning-rate schedule peaking at 0.1, batch 256, 10 epochs.  Writes the parameters
// (safetensors), the trainer's state next to them (for --resume), a metrics CSV and an SVG
// learning curve.  The same seed and thread count give the same losses.
#include <gluino/data/dataloader.hpp>
#include <gluino/data/vision/datasets.hpp>
#include <gluino/data/vision/transforms.hpp>
#include <gluino/gluino.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace gluino;
namespace tf = gluino::data::vision::transforms;

namespace {

struct Options {
  std::string data;  // "" = the library default ($GLUINO_DATA or Debian's package folder)
  int epochs = 10;
  std::size_t batch_size = 256;
  std::string optimizer = "sgd";
  double lr = 0.1;
  double momentum = 0.9;
  double wd = 5e-4;
  std::string schedule = "onecycle";
  int threads = 2;
  std::uint64_t seed = 42;
  std::string output = "lenet.safetensors";
  std::string metrics = "lenet-metrics.csv";
  std::string curve = "lenet-curve.svg";
  std::size_t limit = 0;  // 0 = every training image
  bool resume = false;
};

void usage() {
  std::cout << "usage: train_lenet [--data DIR] [--epochs N] [--batch-size N] [--optimizer sgd|adam] [--lr X]\n"
               "                   [--momentum X] [--wd X] [--schedule onecycle|constant] [--threads N] [--seed N]\n"
               "                   [--output FILE] [--metrics FILE] [--curve FILE] [--limit N] [--resume]\n";
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      GLUINO_CHECK(ValueError, i + 1 < argc, "train_lenet: ", a, " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else if (a == "--data") o.data = value();
    else if (a == "--epochs") o.epochs = std::stoi(value());
    else if (a == "--batch-size") o.batch_size = std::stoul(value());
    else if (a == "--optimizer") o.optimizer = value();
    else if (a == "--lr") o.lr = std::stod(value());
    else if (a == "--momentum") o.momentum = std::stod(value());
    else if (a == "--wd") o.wd = std::stod(value());
    else if (a == "--schedule") o.schedule = value();
    else if (a == "--threads") o.threads = std::stoi(value());
    else if (a == "--seed") o.seed = std::stoull(value());
    else if (a == "--output") o.output = value();
    else if (a == "--metrics") o.metrics = value();
    else if (a == "--curve") o.curve = value();
    else if (a == "--limit") o.limit = std::stoul(value());
    else if (a == "--resume") o.resume = true;
    else {
      usage();
      detail::raise<ValueError>("train_lenet: unknown option '", a, "'");
    }
  }
  GLUINO_CHECK(ValueError, o.epochs > 0 && o.batch_size > 0 && o.threads > 0,
               "train_lenet: epochs, batch size and threads must be positive");
  GLUINO_CHECK(ValueError, o.optimizer == "sgd" || o.optimizer == "adam", "train_lenet: --optimizer must be sgd or adam");
  GLUINO_CHECK(ValueError, o.schedule == "onecycle" || o.schedule == "constant",
               "train_lenet: --schedule must be onecycle or constant");
  return o;
}

/// Images (N, 28, 28, 1) 0..255 -> (N, 1, 28, 28) normalised with Fashion-MNIST's training
/// mean and std; labels as they are.  Done once for the whole set rather than per sample.
data::ArrayDataset<float> prepare(const data::vision::FashionMNIST<float>& ds, std::size_t limit) {
  NDArray<float> images = ds.images(), labels = ds.labels();
  if (limit > 0 && limit < images.shape(0)) {
    images = images.slice(0, limit);
    labels = labels.slice(0, limit);
  }
  tf::Compose pipeline({tf::ToTensor(), tf::Normalize(0.2860, 0.3530)});
  return data::ArrayDataset<float>(pipeline(images), labels.copy());
}

struct EpochRow {
  int epoch;
  double loss, train_acc, test_acc, seconds, img_per_s;
};

std::vector<EpochRow> read_metrics(const std::string& path) {
  std::vector<EpochRow> rows;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    EpochRow r{};
    if (std::sscanf(line.c_str(), "%d,%lf,%lf,%lf,%lf,%lf", &r.epoch, &r.loss, &r.train_acc, &r.test_acc, &r.seconds,
                    &r.img_per_s) == 6)
      rows.push_back(r);
  }
  return rows;
}

void write_metrics(const std::string& path, const std::vector<EpochRow>& rows) {
  std::ofstream out(path);
  GLUINO_CHECK(ValueError, out.good(), "train_lenet: cannot write '", path, "'");
  out << "epoch,train_loss,train_acc,test_acc,seconds,img_per_s\n";
  for (const auto& r : rows)
    out << r.epoch << ',' << r.loss << ',' << r.train_acc << ',' << r.test_acc << ',' << r.seconds << ','
        << r.img_per_s << '\n';
}

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

/// Accuracy of net over a loader, in predict mode.
double evaluate(nn::Sequential& net, data::DataLoader<float>& loader) {
  metric::Accuracy acc;
  autograd::predict_mode predict;
  for (auto [x, y] : loader) acc.update(y, net(x));
  return acc.get().second;
}

std::string states_path(const std::string& output) {
  std::filesystem::path p(output);
  return (p.parent_path() / (p.stem().string() + ".trainer.safetensors")).string();
}

int run(const Options& o) {
  set_num_threads(o.threads);
  gluino::random::seed(o.seed);
  const auto wall0 = std::chrono::steady_clock::now();

  data::vision::FashionMNIST<float> train_raw(o.data, {.train = true}), test_raw(o.data, {.train = false});
  auto train_set = prepare(train_raw, o.limit);
  auto test_set = prepare(test_raw, 0);
  // Each epoch's shuffle comes from seed + epoch, so that --resume sees the same data order as
  // an uninterrupted run.
  auto train_loader_for = [&](int epoch) {
    return data::DataLoader<float>(train_set, {.batch_size = o.batch_size, .shuffle = true,
                                               .seed = o.seed + static_cast<std::uint64_t>(epoch)});
  };
  data::DataLoader<float> test_loader(test_set, {.batch_size = 1000});
  const std::size_t steps_per_epoch = train_loader_for(0).size();

  auto net = model_zoo::lenet();
  net->initialize(init::Xavier{});
  (void)(*net)(nd::zeros<float>({1, 1, 28, 28}));  // infer the deferred shapes

  std::shared_ptr<optim::LRScheduler> schedule;
  if (o.schedule == "onecycle")
    schedule = std::make_shared<optim::OneCycleScheduler>(steps_per_epoch * static_cast<std::size_t>(o.epochs),
                                                          optim::OneCycleSchedulerOptions{.base_lr = o.lr});
  std::shared_ptr<optim::BasicOptimizer<float>> optimizer;
  if (o.optimizer == "sgd")
    optimizer = std::make_shared<optim::SGD>(
        optim::SGDOptions{.learning_rate = o.lr, .momentum = o.momentum, .wd = o.wd, .lr_scheduler = schedule});
  else
    optimizer = std::make_shared<optim::Adam>(optim::AdamOptions{.learning_rate = o.lr, .wd = o.wd, .lr_scheduler = schedule});
  Trainer trainer(net->collect_params(), optimizer);
  loss::SoftmaxCrossEntropyLoss loss_fn;

  std::vector<EpochRow> history;
  if (o.resume) {
    GLUINO_CHECK(ValueError, std::filesystem::exists(o.output) && std::filesystem::exists(states_path(o.output)),
                 "train_lenet: --resume needs '", o.output, "' and '", states_path(o.output), "' from an earlier run");
    net->load_parameters(o.output);
    trainer.load_states(states_path(o.output));
    history = read_metrics(o.metrics);
  }

  std::printf("gluino %s | LeNet | Fashion-MNIST: %zu train / %zu test | batch %zu | %s lr %g%s | %d threads | GEMM: %s\n",
              gluino::version().c_str(), train_set.size(), test_set.size(), o.batch_size, o.optimizer.c_str(), o.lr,
              o.schedule == "onecycle" ? " one-cycle" : "", get_num_threads(), gluino::kernels::gemm_backend().c_str());
  if (o.resume) std::printf("resuming after epoch %zu from %s\n", history.size(), o.output.c_str());
  std::fflush(stdout);

  const bool tty = isatty(STDOUT_FILENO);
  for (int epoch = static_cast<int>(history.size()) + 1; epoch <= o.epochs; ++epoch) {
    metric::Accuracy train_acc;
    double loss_sum = 0;
    std::size_t seen = 0, step = 0;
    auto train_loader = train_loader_for(epoch);
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
      ++step;
      if (tty && (step % 5 == 0 || step == steps_per_epoch)) {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const int width = 28, filled = static_cast<int>(width * step / steps_per_epoch);
        std::printf("\r\033[2Kepoch %d/%d [%s>%s] %zu/%zu  loss %.3f  %.0f img/s  ETA %s", epoch, o.epochs,
                    std::string(filled, '=').c_str(), std::string(width - filled, ' ').c_str(), step, steps_per_epoch,
                    loss_sum / double(seen), double(seen) / secs,
                    clock_text(secs / double(step) * double(steps_per_epoch - step)).c_str());
        std::fflush(stdout);
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double test_acc = evaluate(*net, test_loader);
    history.push_back({epoch, loss_sum / double(seen), train_acc.get().second, test_acc, secs, double(seen) / secs});
    const auto& r = history.back();
    std::printf("%sepoch %d/%d  loss %.3f  train-acc %.3f  test-acc %.3f  %.1f s  %.0f img/s\n", tty ? "\r\033[2K" : "",
                epoch, o.epochs, r.loss, r.train_acc, r.test_acc, r.seconds, r.img_per_s);
    std::fflush(stdout);
    // Checkpoint every epoch, so that --resume continues from the last finished one.
    net->save_parameters(o.output);
    trainer.save_states(states_path(o.output));
    write_metrics(o.metrics, history);
  }

  std::vector<double> loss, tr, te;
  for (const auto& r : history) loss.push_back(r.loss), tr.push_back(r.train_acc), te.push_back(r.test_acc);
  utils::write_svg(o.curve, {{"LeNet on Fashion-MNIST: training loss", {{"train loss", loss}}},
                             {"accuracy", {{"train", tr}, {"test", te}}}});
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  std::printf("saved %s, metrics in %s, learning curve in %s (%.1f s in all)\n", o.output.c_str(), o.metrics.c_str(),
              o.curve.c_str(), total);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_lenet: %s\n", e.what());
    return 1;
  }
}
