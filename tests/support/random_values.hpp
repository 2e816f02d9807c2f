// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test inputs for raw kernels: n values uniform in [-1, 1) from a seeded std::mt19937.
#include <cstddef>
#include <random>
#include <vector>

namespace gluino_test {

template <class T>
std::vector<T> random_values(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(u(rng));
  return v;
}

}  // namespace gluino_test
