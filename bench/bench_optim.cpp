// SPDX-License-Identifier: Apache-2.0
// Optimizer updates through a Trainer: one step over a parameter of n elements (AlexNet has 61
// million in all), memory-bound; bytes/s counts what the update reads and writes.
#include <benchmark/benchmark.h>

#include <string>

#include <gluino/init/initializer.hpp>
#include <gluino/nn/parameter_dict.hpp>
#include <gluino/optim/trainer.hpp>

using namespace gluino;

// streams: arrays of n floats the update reads or writes (SGD with momentum reads weight, grad
// and momentum and writes weight and momentum: 5; Adam reads 4 and writes 3: 7).
static void run_update(benchmark::State& state, const std::string& optimizer, const optim::OptimizerOptions& options,
                       int streams) {
  const auto n = static_cast<std::size_t>(state.range(0));
  nn::ParameterDict params("bench_");
  auto p = params.get("w", Shape{n});
  params.initialize(init::Uniform{});
  p->grad().fill(0.25f);
  Trainer trainer(params, optimizer, options);
  trainer.step(1);  // creates the states (their first touch is not the update's cost)
  for (auto _ : state) {
    trainer.step(1);
    benchmark::DoNotOptimize(p->data().data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(n * sizeof(float)) * streams);
}

static void BM_Update_SGDMomentum(benchmark::State& state) {
  run_update(state, "sgd", {{"learning_rate", 0.01}, {"momentum", 0.9}, {"wd", 5e-4}}, 5);
}
BENCHMARK(BM_Update_SGDMomentum)->Arg(1 << 20)->Arg(61'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_Update_Adam(benchmark::State& state) {
  run_update(state, "adam", {{"learning_rate", 0.001}}, 7);
}
BENCHMARK(BM_Update_Adam)->Arg(1 << 20)->Arg(61'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();
