// SPDX-License-Identifier: Apache-2.0
// kernels::vector_sqrt against its naive reference (std::sqrt per element): equal bit for bit.
#include <gluino/kernels/vector_sqrt.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace {
template <class T>
void check_against_naive(std::size_t n) {
  std::mt19937 gen(static_cast<unsigned>(n));
  std::uniform_real_distribution<double> mag(-30.0, 30.0);
  std::vector<T> in(n), fast(n), naive(n);
  for (auto& v : in) v = static_cast<T>(std::exp2(mag(gen)));  // 2^-30 .. 2^30
  if (n > 2) in[0] = T(0), in[1] = std::numeric_limits<T>::denorm_min(), in[2] = std::numeric_limits<T>::infinity();
  gluino::kernels::vector_sqrt(in.data(), fast.data(), n);
  gluino::kernels::vector_sqrt_naive(in.data(), naive.data(), n);
  CHECK((n == 0 || std::memcmp(fast.data(), naive.data(), n * sizeof(T)) == 0));  // memcmp: not of null
}
}  // namespace

TEST_SUITE("kernels/vector_sqrt") {
TEST_CASE("equals std::sqrt bit for bit, for lengths that do and do not fill the vector registers") {
  for (std::size_t n : {0, 1, 7, 8, 15, 16, 17, 63, 4096, 4099}) {
    CAPTURE(n);
    check_against_naive<float>(n);
    check_against_naive<double>(n);
  }
}
TEST_CASE("in place, and a negative input gives NaN") {
  std::vector<float> a{4.0f, -1.0f, 2.25f, 9.0f, 16.0f, 25.0f, 36.0f, 49.0f, 64.0f};
  gluino::kernels::vector_sqrt(a.data(), a.data(), a.size());
  CHECK(a[0] == 2.0f);
  CHECK(std::isnan(a[1]));
  CHECK(a[2] == 1.5f);
  CHECK(a[8] == 8.0f);
}
}  // TEST_SUITE
