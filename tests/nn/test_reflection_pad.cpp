// SPDX-License-Identifier: Apache-2.0
#include <gluino/nn/reflection_pad.hpp>

#include <doctest/doctest.h>

#include <vector>

#include <gluino/nd/creation.hpp>
#include "support/check_close.hpp"
#include "support/gradcheck.hpp"
#include "support/repr.hpp"

using namespace gluino;
using test::repr;
using V = std::vector<NDArray<double>>;

TEST_SUITE("nn/reflection_pad") {
TEST_CASE("ReflectionPad2D: Gluon's name, MXNet's pad_width, reflected H and W") {
  nn::reset_name_counters();
  nn::ReflectionPad2D pad{1};
  CHECK(pad.prefix() == "reflectionpad2d0_");
  CHECK(pad.collect_params().size() == 0);
  CHECK(pad.pad_width() == std::array<std::size_t, 8>{0, 0, 0, 0, 1, 1, 1, 1});
  CHECK(repr(pad) == "ReflectionPad2D((0, 0, 0, 0, 1, 1, 1, 1))");
  const auto x = nd::array<float>({1, 2, 3, 4, 5, 6}, {1, 1, 2, 3});
  const auto y = pad(x);
  CHECK(y.shape() == Shape{1, 1, 4, 5});
  test::check_values(y, {5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 2, 1, 2, 3, 2}, 1e-15);
  nn::ReflectionPad2D uneven{{0, 0, 0, 0, 0, 1, 2, 0}};  // bottom 1, left 2
  test::check_values(uneven(x), {3, 2, 1, 2, 3, 6, 5, 4, 5, 6, 3, 2, 1, 2, 3}, 1e-15);
  CHECK(nn::ReflectionPad2D{}(x).to_vector() == x.to_vector());
}
TEST_CASE("ReflectionPad2D: gradient matches central differences (double)") {
  nn::BasicReflectionPad2D<double> pad{2};
  CHECK(test::gradcheck([&](const V& in) { return pad(in[0]); }, {test::rand_array({2, 1, 3, 4})}));
}
TEST_CASE("ReflectionPad2D: errors name the block and the sizes") {
  nn::reset_name_counters();
  nn::ReflectionPad2D pad{2};
  CHECK_THROWS_WITH_AS(pad(nd::zeros<float>({1, 1, 2, 5})),
                       doctest::Contains("reflectionpad2d0_: reflection padding (2, 2) must be less than the height 2 of "
                                         "the input of shape (1, 1, 2, 5)"),
                       ValueError);
  CHECK_THROWS_WITH_AS(pad(nd::zeros<float>({1, 5, 5})), doctest::Contains("input must be (N, C, H, W), got shape (1, 5, 5)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS((nn::ReflectionPad2D{{0, 1, 0, 0, 1, 1, 1, 1}}), doctest::Contains("pads the N or C axis"), ValueError);
}
}
