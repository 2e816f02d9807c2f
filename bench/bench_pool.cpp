// SPDX-License-Identifier: Apache-2.0
// Benchmarks of nd::pooling: LeNet's 2x2 stride-2 max pool and AlexNet's 3x3 stride-2 pools.
// main() comes from benchmark::benchmark_main.  The argument indexes the table below.
#include <gluino/nd/pool.hpp>

#include <benchmark/benchmark.h>

#include <gluino/nd/random.hpp>

using namespace gluino;

namespace {
struct Case {
  const char* label;
  Shape shape;
  nd::PoolOptions opt;
};
const Case cases[] = {
    {"lenet max 2x2/2 (256, 20, 24, 24)", {256, 20, 24, 24}, {.kernel = {2, 2}, .stride = {2, 2}}},
    {"lenet max 2x2/2 (256, 50, 10, 10)", {256, 50, 10, 10}, {.kernel = {2, 2}, .stride = {2, 2}}},
    {"alexnet max 3x3/2 (32, 96, 54, 54)", {32, 96, 54, 54}, {.kernel = {3, 3}, .stride = {2, 2}}},
    {"alexnet max 3x3/2 (32, 256, 26, 26)", {32, 256, 26, 26}, {.kernel = {3, 3}, .stride = {2, 2}}},
    {"alexnet max 3x3/2 (32, 256, 12, 12)", {32, 256, 12, 12}, {.kernel = {3, 3}, .stride = {2, 2}}},
    {"avg 2x2/2 (256, 20, 24, 24)", {256, 20, 24, 24}, {.kernel = {2, 2}, .stride = {2, 2}, .type = nd::pool_type::avg}},
};
}  // namespace

/// Forward only (no arg-max saved); items = images, bytes = input read.
static void BM_Pool_Forward(benchmark::State& state) {
  const Case& c = cases[state.range(0)];
  auto x = nd::random::uniform<float>(c.shape, -1.0f, 1.0f);
  for (auto _ : state) benchmark::DoNotOptimize(nd::pooling(x, c.opt).data());
  state.SetLabel(c.label);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(c.shape[0]));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(x.size() * sizeof(float)));
}
BENCHMARK(BM_Pool_Forward)->DenseRange(0, 5)->Unit(benchmark::kMicrosecond);

/// Forward (saving the arg-max) and backward.
static void BM_Pool_ForwardBackward(benchmark::State& state) {
  const Case& c = cases[state.range(0)];
  auto x = nd::random::uniform<float>(c.shape, -1.0f, 1.0f);
  x.attach_grad();
  for (auto _ : state) {
    NDArray<float> y;
    {
      autograd::record rec;
      y = nd::pooling(x, c.opt);
    }
    y.backward();
    benchmark::DoNotOptimize(x.grad().data());
  }
  state.SetLabel(c.label);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(c.shape[0]));
}
BENCHMARK(BM_Pool_ForwardBackward)->DenseRange(0, 5)->Unit(benchmark::kMicrosecond);
