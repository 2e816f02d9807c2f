// SPDX-License-Identifier: Apache-2.0
// kernels::gemm on the products AlexNet's convolutions make per image (im2col + GEMM), one
// thread per call as inside a convolution's team.  The context line "gemm" names the backend
// (OpenBLAS through Eigen, or Eigen's own kernels): configure with -DGLUINO_USE_OPENBLAS=OFF to
// measure the other one.  main() comes from benchmark::benchmark_main.
#include <gluino/kernels/gemm.hpp>

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include <gluino/core/parallel.hpp>

namespace {
struct Product {
  bool ta, tb;
  std::size_t M, N, K;
};
// conv2 (256 <- 96 channels, 5x5 on 26x26) and conv3 (384 <- 256, 3x3 on 12x12) of AlexNet:
// forward w (O, K) x cols (K, P); weight gradient dy (O, P) x cols^T; column gradient w^T x dy.
const Product kProducts[] = {
    {false, false, 256, 676, 2400}, {false, true, 256, 2400, 676}, {true, false, 2400, 676, 256},
    {false, false, 384, 144, 2304}, {false, true, 384, 2304, 144}, {true, false, 2304, 144, 384},
};
const bool kContext = (benchmark::AddCustomContext("gemm", gluino::kernels::gemm_backend()), true);
}  // namespace

/// Arg: index into kProducts.  Counter FLOP/s = 2 M N K per iteration.
static void BM_Gemm_AlexNetConv(benchmark::State& state) {
  const Product p = kProducts[state.range(0)];
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> a(p.M * p.K), b(p.K * p.N), c(p.M * p.N);
  for (auto& v : a) v = u(rng);
  for (auto& v : b) v = u(rng);
  const int saved = gluino::get_num_threads();
  gluino::set_num_threads(1);
  for (auto _ : state) {
    gluino::kernels::gemm(p.ta, p.tb, p.M, p.N, p.K, 1.0f, a.data(), p.ta ? p.M : p.K, b.data(), p.tb ? p.K : p.N, 0.0f,
                          c.data(), p.N);
    benchmark::DoNotOptimize(c.data());
  }
  gluino::set_num_threads(saved);
  state.SetLabel(std::string(p.ta ? "T" : "N") + (p.tb ? "T " : "N ") + std::to_string(p.M) + "x" + std::to_string(p.N) +
                 "x" + std::to_string(p.K));
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * double(p.M) * double(p.N) * double(p.K),
                                                benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Gemm_AlexNetConv)->DenseRange(0, 5)->Unit(benchmark::kMillisecond);
