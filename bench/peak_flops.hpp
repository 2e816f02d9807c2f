// SPDX-License-Identifier: Apache-2.0
#pragma once
// The machine's FP32 peak, measured: a loop of independent fused multiply-adds on every thread,
// at the widest vector the build targets (AVX-512: 16 lanes, else 8), long enough for the clock
// to settle.  The benches and compare_torch divide their achieved FLOP/s by it, so every figure
// says how far it is from what the cores can do (issue: performance near peak).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

namespace gluino_bench {

namespace detail {
#if defined(__AVX512F__)
inline constexpr std::size_t peak_lanes = 16, peak_chains = 12;  // 32 zmm registers
#else
inline constexpr std::size_t peak_lanes = 8, peak_chains = 10;  // 16 ymm registers
#endif
typedef float PeakVec __attribute__((vector_size(peak_lanes * sizeof(float))));

/// FLOPs of `iters` rounds of peak_chains multiply-adds on one thread; the result is returned
/// through `sink` so the loop cannot be dropped.
inline double fma_rounds(std::size_t iters, float& sink) {
  PeakVec acc[peak_chains];
  for (std::size_t c = 0; c < peak_chains; ++c) acc[c] = PeakVec{} + static_cast<float>(c) * 1e-3f;
  const PeakVec m = PeakVec{} + 0.999999f, a = PeakVec{} + 1e-7f;
  for (std::size_t i = 0; i < iters; ++i)
    for (std::size_t c = 0; c < peak_chains; ++c) acc[c] = acc[c] * m + a;  // one FMA per chain
  float s = 0;
  for (std::size_t c = 0; c < peak_chains; ++c)
    for (std::size_t l = 0; l < peak_lanes; ++l) s += acc[c][l];
  sink = s;
  return 2.0 * static_cast<double>(iters * peak_chains * peak_lanes);
}
}  // namespace detail

/// FP32 FLOP/s of `threads` threads running the FMA loop together (best of three rounds of about 0.05 s).
inline double measure_peak_flops(int threads) {
  double best = 0;
  const std::size_t iters = std::size_t(1) << 24;
  for (int round = 0; round < 3; ++round) {
    double flops = 0;
    float sink = 0;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
    {
      float s = 0;
      flops += detail::fma_rounds(iters, s);
#pragma omp critical
      sink += s;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (sink == 12345.0f) std::puts("");  // keep the result alive
    best = std::max(best, flops / secs);
  }
  return best;
}

/// measure_peak_flops(threads), measured once per process and thread count.
inline double peak_flops(int threads) {
  static int cached_threads = -1;
  static double cached = 0;
  if (threads != cached_threads) cached = measure_peak_flops(threads), cached_threads = threads;
  return cached;
}

/// "AVX-512" or "AVX2" or "generic": what the FMA loop (and -march) used.
inline std::string peak_isa() {
#if defined(__AVX512F__)
  return "AVX-512";
#elif defined(__AVX2__)
  return "AVX2";
#else
  return "generic";
#endif
}

}  // namespace gluino_bench
