// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Random numbers: a seedable Generator (Mersenne Twister, with gluino's own conversion to
/// floating point so that a seed gives the same numbers on every platform) and the per-thread
/// default generators that gluino::random::seed() resets.  Gluon: mx.random.seed.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>

#include "gluino/core/error.hpp"
#include "gluino/core/tracing.hpp"

namespace gluino::random {

/// A source of uniform and normal variates.  Not thread-safe: give each thread its own (the
/// default generators below are per thread).  A draw (next_u64, uniform01, uniform, normal,
/// randint) outside an op while a block's forward is traced into a graph (hybridize) throws
/// StateError, before changing the generator: the graph would replay the traced call's numbers
/// as constants.  Ops (Dropout's mask) and initializers draw, as they run with the trace paused.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 5489u) : engine_(seed) {}
  void seed(std::uint64_t s) {
    engine_.seed(s);
    has_spare_ = false;
  }
  /// 64 random bits.
  std::uint64_t next_u64() { return draw(); }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform01() { return static_cast<double>(draw() >> 11) * 0x1.0p-53; }
  /// Uniform in [low, high) (low when they are equal).  low + (high - low) * u can round up to
  /// high (for a range of a few ulps, about half the draws): such a value becomes the largest
  /// double below high.
  double uniform(double low, double high) {
    const double v = low + (high - low) * uniform01();
    return v < high || !(low < high) ? v : std::nextafter(high, low);
  }
  /// Normal(mean, sigma) by the Box-Muller transform (pairs cached).
  double normal(double mean, double sigma) {
    if (has_spare_) {
      check_not_traced();
      has_spare_ = false;
      return mean + sigma * spare_;
    }
    double u1 = uniform01(), u2 = uniform01();
    if (u1 < 1e-300) u1 = 1e-300;
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double two_pi = 6.283185307179586476925286766559;
    spare_ = r * std::sin(two_pi * u2);
    has_spare_ = true;
    return mean + sigma * r * std::cos(two_pi * u2);
  }
  /// Uniform integer in [0, n), without modulo bias.  ValueError for n == 0 (an empty range).
  std::uint64_t randint(std::uint64_t n) {
    GLUINO_CHECK(ValueError, n > 0, "randint: the range [0, n) is empty (n = 0)");
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    std::uint64_t v;
    do v = draw(); while (v >= limit);
    return v % n;
  }

 private:
  static void check_not_traced() { gluino::detail::check_not_tracing("draws random numbers (random::Generator)"); }
  std::uint64_t draw() {
    check_not_traced();
    return engine_();
  }
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

namespace detail {
/// The process seed: the last value given to seed() in any thread (5489, std::mt19937_64's
/// default, until then).  New threads derive their default generator's seed from it.
inline std::atomic<std::uint64_t>& process_seed() {
  static std::atomic<std::uint64_t> s{5489u};
  return s;
}
/// How many default generators the process has created (each thread makes one at its first draw).
inline std::atomic<std::uint64_t>& generators_created() {
  static std::atomic<std::uint64_t> n{0};
  return n;
}
/// SplitMix64's finalizer: decorrelates nearby seeds (s, s + 1, ...).
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
/// The seed of the k-th default generator made in the process: the process seed itself for the
/// first (the main thread's, usually: single-threaded programs draw what they always drew), a
/// hash of (process seed, k) for the others.
inline std::uint64_t thread_seed(std::uint64_t k) {
  const std::uint64_t s = process_seed().load(std::memory_order_relaxed);
  return k == 0 ? s : mix64(s + k * 0x9e3779b97f4a7c15ULL);
}
}  // namespace detail

/// The generator used when an op is not given one (initializers, nd::random, Dropout, a
/// DataLoader's seed).  One per thread (thread_local), so threads never share a stream and need
/// no lock: two threads training two models draw independently and without a data race.
/// A thread's generator is made at its first draw, seeded by detail::thread_seed: the first
/// thread of the process gets the process seed (5489 by default, or the last seed()), later
/// threads a hash of (process seed, creation order).  For bitwise-reproducible multi-threaded
/// runs call seed() at the start of each thread (or give each its own Generator): the order in
/// which concurrent threads make their generators is up to the scheduler.
inline Generator& default_generator() {
  thread_local Generator gen(detail::thread_seed(detail::generators_created().fetch_add(1, std::memory_order_relaxed)));
  return gen;
}

/// Reseeds the calling thread's default generator with s (it then draws exactly what a
/// Generator(s) draws) and makes s the process seed from which threads that have not drawn yet
/// seed theirs.  Other threads' generators that exist already are left alone (reseeding a
/// stream another thread is drawing from would make its results depend on timing).
/// Gluon: mx.random.seed(s).
inline void seed(std::uint64_t s) {
  detail::process_seed().store(s, std::memory_order_relaxed);
  default_generator().seed(s);
}

}  // namespace gluino::random
