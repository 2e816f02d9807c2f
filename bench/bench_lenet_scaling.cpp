// SPDX-License-Identifier: Apache-2.0
// How LeNet training throughput grows with the batch size (16..512) and from 1 to 2 threads:
// one training step (forward, softmax cross-entropy, backward, SGD with momentum) per
// iteration.  Counters: img/s, and `efficiency` = img/s per thread relative to the 1-thread run
// of the same batch (1.0 = perfect scaling).  main() comes from benchmark::benchmark_main.
#include <gluino/gluino.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <map>

using namespace gluino;

namespace {
std::map<std::size_t, double> one_thread_rate;  // batch -> img/s with 1 thread

void BM_LeNet_TrainStep(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  set_num_threads(threads);
  gluino::random::seed(0);
  auto net = model_zoo::lenet();
  net->initialize(init::Xavier{});
  auto x = nd::random::uniform<float>({batch, 1, 28, 28});
  auto y = nd::zeros<float>({batch});
  for (std::size_t i = 0; i < batch; ++i) y.data()[i] = static_cast<float>(i % 10);
  (void)(*net)(x);
  Trainer trainer(net->collect_params(), "sgd", {{"learning_rate", 0.01}, {"momentum", 0.9}});
  loss::SoftmaxCrossEntropyLoss loss_fn;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    NDArray<float> l;
    {
      autograd::record rec;
      l = loss_fn((*net)(x), y);
    }
    l.backward();
    trainer.step(batch);
    benchmark::DoNotOptimize(l.data());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double rate = double(state.iterations() * batch) / std::max(secs, 1e-9);
  if (threads == 1) one_thread_rate[batch] = rate;
  state.counters["img_per_s"] = rate;
  if (one_thread_rate.count(batch)) state.counters["efficiency"] = rate / (threads * one_thread_rate[batch]);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
}
}  // namespace

// Batch 16..512, each with 1 then 2 threads (the 1-thread run sets the efficiency baseline).
BENCHMARK(BM_LeNet_TrainStep)
    ->ArgsProduct({{16, 32, 64, 128, 256, 512}, {1, 2}})
    ->ArgNames({"batch", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
