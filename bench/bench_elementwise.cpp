// SPDX-License-Identifier: Apache-2.0
// Element-wise ops and a full reduction on float arrays of n = range(0) elements.
#include <gluino/nd/elementwise.hpp>

#include <benchmark/benchmark.h>

#include <gluino/nd/random.hpp>
#include <gluino/nd/reduce.hpp>

using namespace gluino;

namespace {
/// (n / 256, 256): a matrix shape for the broadcast-row case.
Shape matrix(std::size_t n) { return Shape{n / 256, 256}; }
}  // namespace

/// a + b, both of shape (n / 256, 256).
static void BM_Add_Forward(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto a = nd::random::uniform<float>(matrix(n)), b = nd::random::uniform<float>(matrix(n));
  for (auto _ : state) benchmark::DoNotOptimize((a + b).data());
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_Add_Forward)->Arg(1 << 16)->Arg(1 << 20);

/// a + row, a of shape (n / 256, 256) and row of shape (256,): the general broadcast loop.
static void BM_Add_Forward_BroadcastRow(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto a = nd::random::uniform<float>(matrix(n)), row = nd::random::uniform<float>({256});
  for (auto _ : state) benchmark::DoNotOptimize((a + row).data());
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_Add_Forward_BroadcastRow)->Arg(1 << 16)->Arg(1 << 20);

static void BM_Relu_Forward(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto x = nd::random::uniform<float>({n}, -1.f, 1.f);
  for (auto _ : state) benchmark::DoNotOptimize(nd::relu(x).data());
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_Relu_Forward)->Arg(1 << 16)->Arg(1 << 20);

/// Recorded relu followed by backward (head gradient of ones): forward + graph + backward.
static void BM_Relu_Backward(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto x = nd::random::uniform<float>({n}, -1.f, 1.f);
  x.attach_grad();
  for (auto _ : state) {
    autograd::record rec;
    auto y = nd::relu(x);
    y.backward();
    benchmark::DoNotOptimize(x.grad().data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_Relu_Backward)->Arg(1 << 16)->Arg(1 << 20);

/// Sum over every axis of a (n / 256, 256) array.
static void BM_Sum_Forward(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto x = nd::random::uniform<float>(matrix(n));
  for (auto _ : state) benchmark::DoNotOptimize(nd::sum(x).data());
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_Sum_Forward)->Arg(1 << 16)->Arg(1 << 20);

// bench/CMakeLists.txt also links benchmark_main; a main defined here takes precedence, and
// lets the file build alone with -lbenchmark -lpthread.
BENCHMARK_MAIN();
