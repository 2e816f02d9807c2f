// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/triplet_loss.hpp>

#include <doctest/doctest.h>

#include <cmath>

#include <gluino/nd/creation.hpp>
#include <gluino/nd/shape_ops.hpp>
#include "support/gradcheck.hpp"
#include "support/loss_reference.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("loss/triplet_loss") {
TEST_CASE("max(0, |positive - pred|^2 - |negative - pred|^2 + margin) per sample") {
  auto pred = nd::zeros<float>({2, 2});
  auto positive = nd::array<float>({1, 0, 0, 1}, {2, 2});
  auto negative = nd::array<float>({2, 0, 0, 0.5f}, {2, 2});
  // Row 0: 1 - 4 + margin; row 1: 1 - 0.25 + margin.
  CHECK(loss::TripletLoss{}(pred, positive, negative).to_vector() == std::vector<float>{0, 1.75f});
  CHECK(loss::TripletLoss({.margin = 4})(pred, positive, negative).to_vector() == std::vector<float>{1, 4.75f});
}
TEST_CASE("weight, sample weights, batch_axis, inputs of pred's size") {
  auto pred = nd::zeros<float>({2, 2});
  auto positive = nd::array<float>({1, 0, 0, 1});
  auto negative = nd::array<float>({2, 0, 0, 0.5f}, {4, 1});
  loss::TripletLoss f({.weight = 2});
  CHECK(f(pred, positive, negative).to_vector() == std::vector<float>{0, 3.5f});
  CHECK(f(pred, positive, negative, nd::array<float>({1, 2})).to_vector() == std::vector<float>{0, 7});
  // batch_axis 1: the samples are the columns, (1, 0) -> 1 - 4 + 1 and (0, 1) -> 1 - 0.25 + 1.
  auto t = [](const NDArray<float>& x) { return nd::transpose(x.reshape({2, 2})); };
  CHECK(loss::TripletLoss({.batch_axis = 1})(t(pred), t(positive), t(negative)).to_vector() ==
        std::vector<float>{0, 1.75f});
}
TEST_CASE("gradients match central differences (double)") {
  SUBCASE("(N, D)") {
    loss::BasicTripletLoss<double> f({.margin = 2});
    CHECK(gradcheck([&](const V& x) { return f(x[0], x[1], x[2]); },
                    {rand_array({4, 3}), rand_array({4, 3}, 8), rand_array({4, 3}, 9)}));
  }
  SUBCASE("batch_axis 1, with sample weights") {
    loss::BasicTripletLoss<double> f({.margin = 2, .weight = 0.5, .batch_axis = 1});
    CHECK(gradcheck([&](const V& x) { return f(x[0], x[1], x[2], x[3]); },
                    {rand_array({2, 3, 2}), rand_array({2, 3, 2}, 8), rand_array({12}, 9), rand_array({3}, 10)}));
  }
}
TEST_CASE("matches PyTorch (element-wise ops)") {
  test::check_loss_references<loss::BasicTripletLoss>("TripletLoss", [](const nlohmann::json& o) {
    return loss::TripletLossOptions{.margin = o.value("margin", 1.0), .weight = o.value("weight", 1.0),
                                    .batch_axis = o.value("batch_axis", 0)};
  });
}
TEST_CASE("errors: input sizes, undefined inputs, two inputs through BasicLoss") {
  loss::TripletLoss f;
  auto x = nd::zeros<float>({2, 2});
  CHECK_THROWS_WITH_AS(f(x, nd::zeros<float>({3}), x),
                       doctest::Contains("TripletLoss: positive of shape (3,) does not match pred of shape (2, 2)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(f(x, x, nd::zeros<float>({2, 3})),
                       doctest::Contains("TripletLoss: negative of shape (2, 3) does not match pred of shape (2, 2)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(f(x, x, NDArray<float>{}),
                       doctest::Contains("TripletLoss: pred, positive and negative must be defined arrays"),
                       StateError);
  const loss::BasicLoss<float>& base = f;
  CHECK_THROWS_WITH_AS(base(x, x),
                       doctest::Contains("TripletLoss: takes three inputs (pred, positive, negative), not two"),
                       ValueError);
  CHECK_THROWS_WITH_AS(loss::TripletLoss({.batch_axis = 2})(x, x, x),
                       doctest::Contains("batch_axis 2 out of range for a loss of shape (2, 2)"), ShapeError);
}
TEST_CASE("a margin that is not a finite number is a ValueError (it would make every loss NaN)") {
  for (double m : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    CAPTURE(m);
    CHECK_THROWS_WITH_AS(loss::TripletLoss({.margin = m}),
                         doctest::Contains("TripletLoss: margin must be a finite number, got "), ValueError);
  }
}
}
