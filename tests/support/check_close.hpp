// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support: element-wise closeness of two vectors, with a relative tolerance.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <vector>

#include <gluino/core/ndarray.hpp>

namespace gluino::test {
inline void check_close(const std::vector<double>& got, const std::vector<double>& want, double epsilon = 1e-12) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(epsilon));
}
/// The same for two arrays: equal shapes, elements within an absolute tolerance.
template <class T>
void check_close_arrays(const NDArray<T>& got, const NDArray<T>& want, double atol) {
  REQUIRE(got.shape() == want.shape());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element ", i, ": ", got.data()[i], " vs ", want.data()[i]);
    CHECK(std::abs(double(got.data()[i]) - double(want.data()[i])) <= atol);
  }
}
/// Checks every element of x against the expected values (relative tolerance for floats).
template <class T>
void check_values(const NDArray<T>& x, const std::vector<double>& want, double eps = 1e-6) {
  REQUIRE(x.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("element ", i);
    CHECK(double(x.data()[i]) == doctest::Approx(want[i]).epsilon(eps));
  }
}
}  // namespace gluino::test
