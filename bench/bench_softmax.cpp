// SPDX-License-Identifier: Apache-2.0
// Softmax cross-entropy and batch norm, forward + backward as in a training step.
#include <benchmark/benchmark.h>

#include <gluino/nd/batch_norm.hpp>
#include <gluino/nd/creation.hpp>
#include <gluino/nd/random.hpp>
#include <gluino/nd/softmax.hpp>

using namespace gluino;

static void BM_SoftmaxCrossEntropy_ForwardBackward(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0)), c = static_cast<std::size_t>(state.range(1));
  auto logits = nd::random::normal<float>({n, c});
  NDArray<float> labels({n});
  random::Generator gen(1);
  for (float& v : labels) v = static_cast<float>(gen.randint(c));
  logits.attach_grad();
  for (auto _ : state) {
    NDArray<float> loss;
    {
      autograd::record rec;
      loss = nd::softmax_cross_entropy(logits, labels);
    }
    loss.backward();
    benchmark::DoNotOptimize(logits.grad().data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_SoftmaxCrossEntropy_ForwardBackward)->Args({256, 10})->Args({32, 1000});

static void BM_BatchNorm_ForwardBackward(benchmark::State& state) {
  const std::size_t n = 32, c = 64, h = 56, w = 56;
  auto x = nd::random::normal<float>({n, c, h, w});
  auto gamma = nd::ones<float>({c}), beta = nd::zeros<float>({c});
  auto rm = nd::zeros<float>({c}), rv = nd::ones<float>({c});
  x.attach_grad();
  gamma.attach_grad();
  beta.attach_grad();
  for (auto _ : state) {
    NDArray<float> y;
    {
      autograd::record rec;
      y = nd::batch_norm(x, gamma, beta, rm, rv);
    }
    y.backward();
    benchmark::DoNotOptimize(x.grad().data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_BatchNorm_ForwardBackward)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
