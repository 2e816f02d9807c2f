// SPDX-License-Identifier: Apache-2.0
// The main job, data-parallel over MPI: each rank trains LeNet on its part of every epoch
// (data::SplitSampler), gradients are summed over the ranks and the step taken at the global
// batch size (dist::Trainer), so that N ranks follow the single-process recipe of train_lenet:
// Xavier weights, SGD with momentum 0.9 and weight decay 5e-4 under a one-cycle schedule peaking
// at 0.1, a global batch of 256, 10 epochs.  Metrics are reduced over the ranks; rank 0 alone
// prints and writes the checkpoint (parameters and trainer state), which --resume reads on every
// rank.  docs/distributed.md.
//
//   mpirun -np 2 build/release/examples/train_lenet_dist [--data DIR] [--epochs 10]
//       [--batch-size 256 (global)] [--lr 0.1] [--seed 42] [--threads 1] [--limit N]
//       [--output lenet-dist.safetensors] [--resume]
// (as root: mpirun --allow-run-as-root; more ranks than cores: --oversubscribe)
#include <gluino/data/dataloader.hpp>
#include <gluino/data/vision/datasets.hpp>
#include <gluino/data/vision/transforms.hpp>
#include <gluino/dist/mpi.hpp>
#include <gluino/gluino.hpp>

#include "support/fashion_mnist.hpp"
#include "support/cli.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>

using namespace gluino;

namespace {

struct Options {
  std::string data;
  int epochs = 10;
  std::size_t batch_size = 256;  // global: each of N ranks takes batch_size / N
  double lr = 0.1;
  int threads = 1;
  std::uint64_t seed = 42;
  std::size_t limit = 0;
  std::string output = "lenet-dist.safetensors";
  bool resume = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help") {
      std::printf("usage: mpirun -np N train_lenet_dist [--data DIR] [--epochs N] [--batch-size N] [--lr X] "
                  "[--seed N] [--threads N] [--limit N] [--output FILE] [--resume]\n");
      std::exit(0);
    }
    if (a == "--resume") {
      o.resume = true;
      continue;
    }
    GLUINO_CHECK(ValueError, i + 1 < argc, "train_lenet_dist: ", a, " needs a value");
    const std::string v = argv[++i];
    if (a == "--data") o.data = v;
    else if (a == "--epochs") o.epochs = example::int_arg(a, v);
    else if (a == "--batch-size") o.batch_size = example::size_arg(a, v);
    else if (a == "--lr") o.lr = example::real_arg(a, v);
    else if (a == "--seed") o.seed = example::whole_number(a, v);
    else if (a == "--threads") o.threads = example::int_arg(a, v);
    else if (a == "--limit") o.limit = example::size_arg(a, v);
    else if (a == "--output") o.output = v;
    else detail::raise<ValueError>("train_lenet_dist: unknown option '", a, "'");
  }
  GLUINO_CHECK(ValueError, o.epochs > 0 && o.batch_size > 0 && o.threads > 0,
               "train_lenet_dist: epochs, batch size and threads must be positive");
  return o;
}

// Sums of a few numbers over the ranks.
std::vector<double> summed(std::vector<double> v) {
  NDArray<double> a(Shape{v.size()});
  std::copy(v.begin(), v.end(), a.data());
  dist::allreduce_sum(a);
  return a.to_vector();
}

std::string states_path(const std::string& output) {
  std::filesystem::path p(output);
  return (p.parent_path() / (p.stem().string() + ".trainer.safetensors")).string();
}

int run(const Options& o) {
  const int rank = dist::rank(), ranks = dist::size();
  GLUINO_CHECK(ValueError, o.batch_size % std::size_t(ranks) == 0, "train_lenet_dist: --batch-size ", o.batch_size,
               " (global) must be a multiple of the ", ranks, " ranks");
  const std::size_t local_batch = o.batch_size / std::size_t(ranks);
  set_num_threads(o.threads);
  gluino::random::seed(o.seed);

  data::vision::FashionMNIST<float> train_raw(o.data, {.train = true}), test_raw(o.data, {.train = false});
  const auto train_set = example::normalised(train_raw, o.limit), test_set = example::normalised(test_raw, 0);
  auto sampler = std::make_shared<data::SplitSampler>(std::size_t(ranks), std::size_t(rank),
                                                      data::SplitSamplerOptions{.shuffle = true, .seed = o.seed});
  data::DataLoader<float> train_loader(train_set, {.batch_size = local_batch, .sampler = sampler});
  dist::check_split(*sampler, train_set.size());  // the ranks' parts share out every epoch, none twice
  data::DataLoader<float> test_loader(
      test_set, {.batch_size = 1000,
                 .sampler = std::make_shared<data::SplitSampler>(std::size_t(ranks), std::size_t(rank),
                                                                 data::SplitSamplerOptions{.shuffle = false})});
  // Every rank must take as many steps (each step is an allreduce).
  const std::size_t steps_per_epoch = train_loader.size();
  const auto steps = summed({double(steps_per_epoch), double(steps_per_epoch) * double(steps_per_epoch)});
  GLUINO_CHECK(ValueError, steps[0] * steps[0] == steps[1] * ranks, "train_lenet_dist: the ranks' parts of ",
               train_set.size(), " images give different numbers of batches of ", local_batch,
               "; choose a --batch-size or --limit that splits evenly");

  auto net = model_zoo::lenet();
  net->initialize(init::Xavier{});
  (void)(*net)(nd::zeros<float>({1, 1, 28, 28}));    // deferred shapes
  dist::broadcast_parameters(net->collect_params());  // rank 0's weights everywhere
  auto schedule = std::make_shared<optim::OneCycleScheduler>(steps_per_epoch * std::size_t(o.epochs),
                                                             optim::OneCycleSchedulerOptions{.base_lr = o.lr});
  auto sgd = std::make_shared<optim::SGD>(
      optim::SGDOptions{.learning_rate = o.lr, .momentum = 0.9, .wd = 5e-4, .lr_scheduler = schedule});
  dist::Trainer trainer(net->collect_params(), sgd);
  loss::SoftmaxCrossEntropyLoss loss_fn;

  int first_epoch = 1;
  const std::string states = states_path(o.output);
  if (o.resume) {  // every rank reads rank 0's checkpoint
    GLUINO_CHECK(ValueError, std::filesystem::exists(o.output) && std::filesystem::exists(states),
                 "train_lenet_dist: --resume needs '", o.output, "' and '", states, "' from an earlier run");
    const auto meta = io::read_safetensors_header(states).metadata;
    auto it = meta.find("train_lenet_dist.epoch");
    GLUINO_CHECK(ValueError, it != meta.end(), "train_lenet_dist: --resume: '", states,
                 "' is not a checkpoint of train_lenet_dist");
    auto ranks_it = meta.find("train_lenet_dist.global_batch");
    GLUINO_CHECK(ValueError, ranks_it != meta.end() && ranks_it->second == std::to_string(o.batch_size),
                 "train_lenet_dist: --resume: '", states, "' was written with another --batch-size");
    net->load_parameters(o.output);
    trainer.local().load_states(states);
    first_epoch = example::int_arg("--resume: the checkpoint's epoch", it->second) + 1;
    sampler->set_epoch(std::uint64_t(first_epoch - 1));
    if (rank == 0) std::printf("resuming after epoch %d from %s\n", first_epoch - 1, o.output.c_str());
  }
  if (rank == 0)
    std::printf("gluino %s | LeNet | %d ranks x batch %zu (global %zu) | Fashion-MNIST: %zu train / %zu test | "
                "sgd one-cycle lr %g | %d threads per rank\n",
                gluino::version().c_str(), ranks, local_batch, o.batch_size, train_set.size(), test_set.size(), o.lr,
                get_num_threads());

  for (int epoch = first_epoch; epoch <= o.epochs; ++epoch) {
    metric::Loss train_loss;
    metric::Accuracy train_acc, test_acc;
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
      train_loss.update(l);
      train_acc.update(y, out);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
      autograd::predict_mode predict;
      for (auto [x, y] : test_loader) test_acc.update(y, (*net)(x));
    }
    // Every rank's updates: sums and counts summed over the ranks.
    const double images = summed({double(train_acc.num_inst())})[0];
    const auto loss = dist::global_value(train_loss), acc = dist::global_value(train_acc),
               tacc = dist::global_value(test_acc);
    if (rank == 0) {
      std::printf("epoch %d/%d  loss %.3f  train-acc %.3f  test-acc %.3f  %.1f s  %.0f img/s\n", epoch, o.epochs,
                  loss.second, acc.second, tacc.second, secs, images / secs);
      std::fflush(stdout);
      const std::map<std::string, std::string> meta{{"train_lenet_dist.epoch", std::to_string(epoch)},
                                                    {"train_lenet_dist.global_batch", std::to_string(o.batch_size)}};
      net->save_parameters(o.output, meta);  // each save is atomic
      trainer.local().save_states(states, meta);
    }
    dist::barrier();  // the checkpoint is whole before any rank goes on
  }
  if (rank == 0) std::printf("saved %s and %s\n", o.output.c_str(), states.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  dist::Environment env(argc, argv);
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {  // say why, then end every rank: the others must not wait
    std::fprintf(stderr, "train_lenet_dist: rank %d: %s\n", dist::rank(), e.what());
    std::fflush(stderr);
    dist::abort(1);
  }
}
