// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Threading: one knob (set_num_threads) and a parallel_for over OpenMP when it is enabled.
#include <algorithm>
#include <cstddef>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace gluino {

/// Sets the number of threads gluino's kernels use (and Eigen's GEMM, which follows OpenMP).
/// Without OpenMP every kernel runs on the calling thread and this is a no-op.
inline void set_num_threads(int n) {
#if defined(_OPENMP)
  omp_set_num_threads(std::max(1, n));
#else
  (void)n;
#endif
}

/// Threads gluino's kernels use (1 without OpenMP).
inline int get_num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

namespace detail {
/// Runs fn(i) for i in [0, n), split over threads when the work (n * cost per item) is large
/// enough to pay for it; never nests (inside a parallel region it runs serially).
template <class Fn>
void parallel_for(std::size_t n, Fn&& fn, std::size_t cost_per_item = 1) {
#if defined(_OPENMP)
  const bool go_parallel = n > 1 && n * cost_per_item >= 32768 && !omp_in_parallel() && omp_get_max_threads() > 1;
  if (go_parallel) {
    const long long nn = static_cast<long long>(n);
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < nn; ++i) fn(static_cast<std::size_t>(i));
    return;
  }
#else
  (void)cost_per_item;
#endif
  for (std::size_t i = 0; i < n; ++i) fn(i);
}
}  // namespace detail
}  // namespace gluino
