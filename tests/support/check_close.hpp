// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Test support: element-wise closeness of two vectors, with a relative tolerance.
#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

namespace gluino::test {
inline void check_close(const std::vector<double>& got, const std::vector<double>& want, double epsilon = 1e-12) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(epsilon));
}
}  // namespace gluino::test
