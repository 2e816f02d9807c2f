// SPDX-License-Identifier: Apache-2.0
#include <gluino/nd/creation.hpp>

#include <doctest/doctest.h>

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
