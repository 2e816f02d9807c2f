// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/elementwise.hpp>

#include <doctest/doctest.h>

#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nd/elementwise") {
TEST_CASE("add broadcasts a row vector over a matrix") {
  auto a = nd::array<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto b = nd::array<float>({10, 20, 30});
  auto c = a + b;
  CHECK(c.shape() == Shape{2, 3});
  CHECK(c.to_vector() == std::vector<float>{11, 22, 33, 14, 25, 36});
}
TEST_CASE("binary ops: gradients match central differences (double)") {
  SUBCASE("same shape") {
    CHECK(gradcheck([](const V& x) { return x[0] * x[1] + x[0] / (x[1] + 3.0); }, {rand_array({2, 3}), rand_array({2, 3}, 8)}));
  }
  SUBCASE("broadcast (2,1,3) with (4,1)") {
    CHECK(gradcheck([](const V& x) { return x[0] * x[1] - x[1]; }, {rand_array({2, 1, 3}), rand_array({4, 1}, 9)}));
  }
}
TEST_CASE("add: incompatible shapes name both") {
  CHECK_THROWS_WITH_AS(nd::zeros<float>({2, 3}) + nd::zeros<float>({4}), doctest::Contains("(2, 3) and (4,)"),
                       ShapeError);
}
}
