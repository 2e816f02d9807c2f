// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test inputs for raw kernels (n values uniform in [-1, 1) from a seeded std::mt19937) and the
/// largest element-wise difference of two results.
#include <algorithm>
#include <cmath>
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

/// max_i |a[i] - b[i]| over two vectors of the same size.
template <class T>
T max_abs_diff(const std::vector<T>& a, const std::vector<T>& b) {
  T worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

}  // namespace gluino_test
