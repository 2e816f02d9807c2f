// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/loss.hpp>

#include <doctest/doctest.h>

#include <gluino/nd/creation.hpp>

using namespace gluino;

namespace {
/// The smallest loss: the prediction itself (to test the shared weighting and reduction).
struct Identity : loss::BasicLoss<float> {
  explicit Identity(double weight = 1, int batch_axis = 0) : BasicLoss("Identity", weight, batch_axis) {}
  NDArray<float> compute(const NDArray<float>& pred, const NDArray<float>&) const override { return pred; }
};
/// The same with three inputs: their sum.
struct Sum3 : loss::BasicThreeInputLoss<float> {
  explicit Sum3(double weight = 1, int batch_axis = 0)
      : BasicThreeInputLoss("Sum3", {"a", "b", "c"}, weight, batch_axis) {}
  NDArray<float> compute3(const NDArray<float>& a, const NDArray<float>& b, const NDArray<float>& c) const override {
    return a + b + c;
  }
};
}  // namespace

TEST_SUITE("loss/loss") {
TEST_CASE("mean over every axis but the batch axis") {
  auto x = nd::arange<float>(0, 12).reshape({2, 3, 2});
  CHECK(Identity{}(x, x).to_vector() == std::vector<float>{2.5f, 8.5f});
  CHECK(Identity(1, 1)(x, x).to_vector() == std::vector<float>{3.5f, 5.5f, 7.5f});
  CHECK(Identity(1, -1)(x, x).to_vector() == std::vector<float>{5.0f, 6.0f});
}
TEST_CASE("a (N,) sample weight is per sample; weights broadcast to the loss") {
  auto x = nd::ones<float>({2, 3});
  CHECK(Identity{}(x, x, nd::array<float>({2, 3})).to_vector() == std::vector<float>{2, 3});
  CHECK(Identity{}(x, x, nd::array<float>({0, 3, 0})).to_vector() == std::vector<float>{1, 1});
  CHECK(Identity(0.5)(x, x, nd::array<float>({2}, Shape{})).to_vector() == std::vector<float>{1, 1});
}
TEST_CASE("three inputs: the same weighting and mean") {
  auto x = nd::arange<float>(0, 6).reshape({2, 3});
  auto one = nd::ones<float>({2, 3});
  CHECK(Sum3{}(x, one, one).to_vector() == std::vector<float>{3, 6});
  CHECK(Sum3(2, 1)(x, one, one, nd::array<float>({1, 0, 1})).to_vector() == std::vector<float>{7, 0, 11});
  CHECK_THROWS_WITH_AS(Sum3{}(x, NDArray<float>{}, x), doctest::Contains("Sum3: a, b and c must be defined arrays"),
                       StateError);
  const loss::BasicLoss<float>& two = Sum3{};
  CHECK_THROWS_WITH_AS(two(x, x), doctest::Contains("Sum3: takes three inputs (a, b, c), not two"), ValueError);
}
TEST_CASE("errors: sample weight that would grow the loss, undefined inputs") {
  auto x = nd::ones<float>({2, 3});
  CHECK_THROWS_WITH_AS(Identity{}(x, x, nd::ones<float>({4, 2, 3})),
                       doctest::Contains("sample_weight of shape (4, 2, 3) does not broadcast to the loss of shape (2, 3)"),
                       ShapeError);
  CHECK_THROWS_AS(Identity{}(NDArray<float>{}, x), StateError);
}
TEST_CASE("an empty batch: sample weights of its shape give an empty loss, as Gluon's broadcast_mul") {
  auto x = nd::ones<float>({0, 3});
  for (const Shape& w : {Shape{0}, Shape{0, 1}, Shape{0, 3}}) {
    CAPTURE(w);
    CHECK(Identity{}(x, x, nd::ones<float>(w)).shape() == Shape{0});
  }
  // A weight with no elements does not fit a loss that has some.
  CHECK_THROWS_WITH_AS(Identity{}(nd::ones<float>({2, 3}), x, nd::ones<float>({0})),
                       doctest::Contains("sample_weight of shape (0,) does not broadcast to the loss of shape (2, 3)"),
                       ShapeError);
}
}
