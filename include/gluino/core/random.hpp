// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Random numbers: a seedable Generator (Mersenne Twister, with gluino's own conversion to
/// floating point so that a seed gives the same numbers on every platform) and the default
/// generator that gluino::random::seed() resets.  Gluon: mx.random.seed.
#include <cmath>
#include <cstdint>
#include <random>

namespace gluino::random {

/// A source of uniform and normal variates.  Not thread-safe: give each thread its own.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 5489u) : engine_(seed) {}
  void seed(std::uint64_t s) {
    engine_.seed(s);
    has_spare_ = false;
  }
  /// 64 random bits.
  std::uint64_t next_u64() { return engine_(); }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform01() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  /// Uniform in [low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform01(); }
  /// Normal(mean, sigma) by the Box-Muller transform (pairs cached).
  double normal(double mean, double sigma) {
    if (has_spare_) {
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
  /// Uniform integer in [0, n) (n > 0), without modulo bias.
  std::uint64_t randint(std::uint64_t n) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    std::uint64_t v;
    do v = engine_(); while (v >= limit);
    return v % n;
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

/// The generator used when an op is not given one (initializers, nd::random, Dropout).
/// Process-wide, not thread-safe; reset it with seed().
inline Generator& default_generator() {
  static Generator gen;
  return gen;
}

/// Reseeds the default generator.  Gluon: mx.random.seed(s).
inline void seed(std::uint64_t s) { default_generator().seed(s); }

}  // namespace gluino::random
