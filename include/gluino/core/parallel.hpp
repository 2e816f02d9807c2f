// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Threading: one knob (set_num_threads) and a parallel_for over OpenMP when it is enabled.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "gluino/core/error.hpp"

namespace gluino {

/// The most threads set_num_threads takes: 4 per hardware thread, at least 256, and no more than
/// OpenMP's thread limit.  A team far larger than the machine only slows every kernel down, and
/// one of millions made libgomp end the process ("Out of memory allocating ... bytes").
inline int max_num_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  int n = static_cast<int>(std::min<unsigned>(std::max(hw, 64u), 1u << 20) * 4);
#if defined(_OPENMP)
  n = std::min(n, std::max(1, omp_get_thread_limit()));
#endif
  return n;
}

/// Sets the number of threads gluino's kernels use (and its matrix products: kernels::gemm).
/// ValueError, changing nothing, when n < 1 or n > max_num_threads() (as torch.set_num_threads
/// rejects n <= 0).  Without OpenMP every kernel runs on the calling thread and a valid n is ignored.
inline void set_num_threads(int n) {
  GLUINO_CHECK(ValueError, n >= 1 && n <= max_num_threads(), "set_num_threads: n must be >= 1, got ", n,
               n >= 1 ? " (the most this machine takes is " + std::to_string(max_num_threads()) + ")" : "");
#if defined(_OPENMP)
  omp_set_num_threads(n);
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
/// Carries exceptions out of a parallel region: an exception escaping an OpenMP region calls
/// std::terminate, so each thread runs its work through run(), which keeps the first exception
/// thrown (by any thread) and makes later work items no-ops; rethrow() then raises it on the
/// calling thread once the region has ended.
class ExceptionCarrier {
 public:
  template <class Fn>
  void run(Fn&& fn) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;
    try {
      fn();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!first_) first_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  /// Rethrows the first exception caught, if any.  Call after the region, on one thread.
  void rethrow() {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  std::exception_ptr first_;
};

/// Runs fn(lo, hi) on blocks [lo, hi) of at most parallel_block items covering [0, n), split
/// over threads when the work (n * cost per item) is large enough to pay for it; never nests
/// (inside a parallel region it runs serially).  Each thread takes one contiguous range and runs
/// it block by block.  An exception thrown by fn reaches the caller (the first one, when several
/// threads throw); the blocks not yet started when it was thrown are skipped.
inline constexpr std::size_t parallel_block = 4096;
template <class Fn>
void parallel_for_blocks(std::size_t n, Fn&& fn, std::size_t cost_per_item = 1) {
#if defined(_OPENMP)
  const bool go_parallel = n > 1 && n * cost_per_item >= 32768 && !omp_in_parallel() && omp_get_max_threads() > 1;
  if (go_parallel) {
    ExceptionCarrier errors;
#pragma omp parallel
    {
      const auto t = static_cast<std::size_t>(omp_get_thread_num());
      const auto team = static_cast<std::size_t>(omp_get_num_threads());
      const std::size_t begin = n / team * t + std::min(t, n % team);
      const std::size_t end = begin + n / team + (t < n % team ? 1 : 0);
      for (std::size_t lo = begin; lo < end; lo += parallel_block) {
        const std::size_t hi = std::min(end, lo + parallel_block);
        errors.run([&] { fn(lo, hi); });
      }
    }
    errors.rethrow();
    return;
  }
#else
  (void)cost_per_item;
#endif
  for (std::size_t lo = 0; lo < n; lo += parallel_block) fn(lo, std::min(n, lo + parallel_block));
}

/// Runs fn(i) for i in [0, n), through parallel_for_blocks: each block is a plain loop over fn,
/// so that an element-wise fn vectorises (run per item, the exception guard kept it scalar, half
/// the speed of the optimizers' updates).
template <class Fn>
void parallel_for(std::size_t n, Fn&& fn, std::size_t cost_per_item = 1) {
  parallel_for_blocks(
      n,
      [&fn](std::size_t lo, std::size_t hi) {
        for (std::size_t i = lo; i < hi; ++i) fn(i);
      },
      cost_per_item);
}

/// Runs fn(thread_id, num_threads) on a team of up to nt OpenMP threads (on the calling thread
/// alone when nt <= 1, without OpenMP, or inside another parallel region).  The calling thread
/// is always thread 0.  An exception thrown by fn on any thread reaches the caller after the
/// whole team has finished (the first one, when several throw).
template <class Fn>
void run_team(int nt, Fn&& fn) {
#if defined(_OPENMP)
  if (nt > 1 && !omp_in_parallel()) {
    ExceptionCarrier errors;
#pragma omp parallel num_threads(nt)
    errors.run([&] { fn(omp_get_thread_num(), omp_get_num_threads()); });
    errors.rethrow();
    return;
  }
#endif
  (void)nt;
  fn(0, 1);
}
/// Threads for a batch of n independent items of `flops` multiply-adds each: one per item at
/// most, and one in all when the work is too small to pay for waking a team.
inline int team_size(std::size_t n, double flops_per_item) {
  const int max_t = get_num_threads();
  if (max_t <= 1 || n < 2 || static_cast<double>(n) * flops_per_item < 2.0e5) return 1;
  return static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(max_t), n));
}

}  // namespace detail
}  // namespace gluino
