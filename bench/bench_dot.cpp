// SPDX-License-Identifier: Apache-2.0
// Benchmarks of nd::dot and nd::fully_connected (the GEMM path every dense layer takes).
// main() comes from benchmark::benchmark_main.
#include <gluino/nd/linalg.hpp>

#include <benchmark/benchmark.h>

#include <gluino/nd/random.hpp>

using namespace gluino;

/// n x n times n x n in float; counters: items = multiply-adds, FLOP/s = 2 n^3 per iteration.
static void BM_Dot_Forward(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto a = nd::random::uniform<float>({n, n}), b = nd::random::uniform<float>({n, n});
  for (auto _ : state) benchmark::DoNotOptimize(nd::dot(a, b).data());
  const double flop = 2.0 * double(n) * double(n) * double(n);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n * n * n));
  state.counters["FLOP/s"] = benchmark::Counter(flop, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Dot_Forward)->Arg(256)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);

/// A LeNet-like dense layer, forward and backward, batch 256: args are (in_units, units).
/// FLOP per iteration: forward 2 B I U, backward dx and dW 2 B I U each (6 B I U in all).
static void BM_FullyConnected_ForwardBackward(benchmark::State& state) {
  const std::size_t batch = 256;
  const auto in = static_cast<std::size_t>(state.range(0)), units = static_cast<std::size_t>(state.range(1));
  auto x = nd::random::uniform<float>({batch, in}, -1.0f, 1.0f);
  auto w = nd::random::normal<float>({units, in}, 0.0f, 0.05f);
  auto b = nd::random::uniform<float>({units});
  x.attach_grad();
  w.attach_grad();
  b.attach_grad();
  for (auto _ : state) {
    NDArray<float> y;
    {
      autograd::record rec;
      y = nd::fully_connected(x, w, b);
    }
    y.backward();
    benchmark::DoNotOptimize(w.grad().data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
  state.counters["FLOP/s"] = benchmark::Counter(6.0 * double(batch * in * units),
                                                benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_FullyConnected_ForwardBackward)->Args({1250, 128})->Args({128, 10})->Unit(benchmark::kMicrosecond);
