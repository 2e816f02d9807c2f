// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/creation.hpp>

#include <doctest/doctest.h>

#include <limits>

using namespace gluino;

TEST_SUITE("nd/creation") {
TEST_CASE("zeros, ones, full") {
  auto z = nd::zeros({2, 3});
  static_assert(std::is_same_v<decltype(z), NDArray<float>>);  // float by default, as Gluon
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.to_vector() == std::vector<float>(6, 0.0f));
  CHECK(nd::ones<double>({3}).to_vector() == std::vector<double>{1, 1, 1});
  auto f = nd::full<float>({2, 2}, 7.5f);
  CHECK(f.to_vector() == std::vector<float>(4, 7.5f));
  CHECK(nd::zeros<float>(Shape{}).size() == 1);
  CHECK(nd::zeros<float>({0, 3}).size() == 0);
}
TEST_CASE("arange") {
  CHECK(nd::arange<float>(5).to_vector() == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(nd::arange<float>(1, 2, 0.25).to_vector() == std::vector<float>{1, 1.25, 1.5, 1.75});
  CHECK(nd::arange<double>(5, 0, -2).to_vector() == std::vector<double>{5, 3, 1});
  CHECK(nd::arange<float>(3, 3).shape() == Shape{0});
  CHECK(nd::arange<float>(3, 1).shape() == Shape{0});
  CHECK(nd::arange<float>(0, 1, 0.3).shape() == Shape{4});  // 0, 0.3, 0.6, 0.9
  CHECK_THROWS_WITH_AS(nd::arange<float>(0, 1, 0), "arange: step must not be 0", ValueError);
}
TEST_CASE("array from values and a shape") {
  auto a = nd::array<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(a.shape() == Shape{2, 3});
  CHECK(a.at(1, 0) == 4.0f);
  auto v = nd::array<double>({1.5, 2.5});
  CHECK(v.shape() == Shape{2});
  CHECK(v.to_vector() == std::vector<double>{1.5, 2.5});
  CHECK_THROWS_WITH_AS(nd::array<float>({1, 2, 3}, {2, 2}), "array: 3 values do not fill shape (2, 2) (4 elements)",
                       ShapeError);
}
TEST_CASE("sizes that overflow throw before allocating, naming the shape") {
  const std::size_t big = std::size_t(1) << 32;
  // 2^64 elements: the element count itself overflows.
  CHECK_THROWS_WITH_AS(nd::zeros({big, big}), doctest::Contains("(4294967296, 4294967296)"), ShapeError);
  CHECK_THROWS_WITH_AS(nd::zeros({big, big}), doctest::Contains("overflows"), ShapeError);
  // 2^62 floats (2^64 bytes) and 2^61 + 1 doubles: the byte count overflows.
  CHECK_THROWS_WITH_AS(nd::zeros<float>({std::size_t(1) << 62}),
                       doctest::Contains("zeros: shape (4611686018427387904,) of 4-byte elements"), ValueError);
  CHECK_THROWS_WITH_AS(nd::ones<double>({(std::size_t(1) << 61) + 1}), doctest::Contains("ones: shape"), ValueError);
  CHECK_THROWS_AS(nd::full<float>({big, big / 4}, 1.f), ValueError);  // 2^62 floats
  // Any array, not only the creation functions: Storage checks the byte count.
  CHECK_THROWS_WITH_AS(NDArray<float>(Shape{std::size_t(1) << 62}), doctest::Contains("overflow"), ValueError);
  CHECK_THROWS_AS(NDArray<double>(Shape{std::size_t(1) << 61}), ValueError);  // exactly 2^64 bytes
}
TEST_CASE("a size past the machine's memory is a ValueError naming the op and shape, not std::bad_alloc") {
  // 2^62 bytes: below PTRDIFF_MAX, far above any machine's RAM and swap.
  const std::size_t rows = std::size_t(1) << 40, cols = std::size_t(1) << 20;
  CHECK_THROWS_WITH_AS(nd::zeros<float>({rows, cols}),
                       doctest::Contains("zeros: shape (1099511627776, 1048576) of 4-byte elements needs "
                                         "4611686018427387904 bytes, more than this machine's memory"),
                       ValueError);
  CHECK_THROWS_WITH_AS(nd::ones<double>({std::size_t(1) << 59}), doctest::Contains("ones: shape (576460752303423488,)"),
                       ValueError);
  CHECK_THROWS_AS(nd::full<float>({rows, cols}, 2.0f), ValueError);
  CHECK_THROWS_WITH_AS(nd::arange<float>(0, 1e18),
                       doctest::Contains("arange: 0 to 1e+18 by 1 gives 1000000000000000000"), ValueError);
  CHECK(nd::zeros<float>({rows, cols, 0}).size() == 0);  // huge dimensions, no elements: fine
}
TEST_CASE("arange: a length that does not fit, or a non-finite bound, is a ValueError") {
  CHECK_THROWS_WITH_AS(nd::arange<float>(0, 1e300), doctest::Contains("arange:"), ValueError);
  CHECK_THROWS_AS(nd::arange<float>(0, 1e30, 1e-30), ValueError);
  CHECK_THROWS_AS(nd::arange<float>(0, std::numeric_limits<double>::infinity()), ValueError);
  CHECK_THROWS_AS(nd::arange<float>(0, std::numeric_limits<double>::quiet_NaN()), ValueError);
  CHECK_THROWS_AS(nd::arange<float>(0, 1, std::numeric_limits<double>::quiet_NaN()), ValueError);
}
TEST_CASE("zeros_like, ones_like, full_like: same shape, new storage") {
  auto x = nd::array<double>({1, 2, 3, 4, 5, 6}, {3, 2});
  auto z = nd::zeros_like(x);
  CHECK(z.shape() == Shape{3, 2});
  CHECK(z.to_vector() == std::vector<double>(6, 0.0));
  CHECK(z.data() != x.data());
  CHECK(nd::ones_like(x).to_vector() == std::vector<double>(6, 1.0));
  CHECK(nd::full_like(x, 3.0).to_vector() == std::vector<double>(6, 3.0));
  CHECK(x.at(0, 0) == 1.0);
}
}
