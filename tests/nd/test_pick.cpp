// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/pick.hpp>

#include <doctest/doctest.h>

#include <gluino/nd/creation.hpp>
#include <gluino/nd/elementwise.hpp>
#include "support/gradcheck.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nd/pick") {
TEST_CASE("picks one element per row, along the last or the first axis") {
  auto x = nd::array<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto y = nd::pick(x, nd::array<float>({2, 0}));
  CHECK(y.shape() == Shape{2});
  CHECK(y.to_vector() == std::vector<float>{3, 4});
  auto k = nd::pick(x, nd::array<float>({1, 0, 1}), 0, true);
  CHECK(k.shape() == Shape{1, 3});
  CHECK(k.to_vector() == std::vector<float>{4, 2, 6});
  CHECK(nd::pick(x, nd::array<float>({2, 0}, {2, 1})).to_vector() == std::vector<float>{3, 4});
}
TEST_CASE("gradient goes to the picked positions (double)") {
  auto idx = nd::array<double>({0, 2, 1, 1, 0, 2}, {2, 3});
  CHECK(gradcheck([&](const V& x) { return nd::pick(x[0], idx, 1); }, {rand_array({2, 3, 3})}));
}
TEST_CASE("gradient of pick along the first, a negative and the last axis, keepdims (double)") {
  const auto x = rand_array({2, 3, 4}, 5);
  SUBCASE("axis 0, keepdims, the index of the kept shape") {
    const auto idx = nd::array<double>({1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0}, {1, 3, 4});
    CHECK(gradcheck([&](const V& v) { return nd::square(nd::pick(v[0], idx, 0, true)); }, {x}));
  }
  SUBCASE("axis -2, the index of the dropped shape") {
    const auto idx = nd::array<double>({2, 0, 1, 1, 0, 2, 2, 1}, {2, 4});
    CHECK(gradcheck([&](const V& v) { return nd::square(nd::pick(v[0], idx, -2)); }, {x}));
    CHECK(gradcheck([&](const V& v) { return nd::square(nd::pick(v[0], idx, -2, true)); }, {x}));
  }
  SUBCASE("axis -1, keepdims, the index of the kept shape") {
    const auto idx = nd::array<double>({3, 0, 2, 1, 1, 3}, {2, 3, 1});
    CHECK(gradcheck([&](const V& v) { return nd::square(nd::pick(v[0], idx, -1, true)); }, {x}));
  }
}
TEST_CASE("errors: index shape, index range, axis") {
  auto x = nd::zeros<float>({2, 3});
  CHECK_THROWS_WITH_AS(nd::pick(x, nd::zeros<float>({3})), doctest::Contains("(3,) does not match data of shape (2, 3)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(nd::pick(x, nd::array<float>({0, 3})), doctest::Contains("index 3"), ValueError);
  CHECK_THROWS_WITH_AS(nd::pick(x, nd::array<float>({0, 0.5f})), doctest::Contains("index 0.5"), ValueError);
  CHECK_THROWS_WITH_AS(nd::pick(x, nd::zeros<float>({2}), 2), doctest::Contains("axis 2"), ShapeError);
}
}
