// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/hinge_loss.hpp>

#include <doctest/doctest.h>

#include <cmath>

#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/loss_reference.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("loss/hinge_loss") {
TEST_CASE("max(0, margin - pred * label), mean over the non-batch axes") {
  auto pred = nd::array<float>({2, 0.5f, -1, 0}, {2, 2});
  auto label = nd::array<float>({1, 1, 1, -1}, {2, 2});
  // margin - pred * label = (-1, 0.5, 2, 1) for margin 1, (-1.5, 0, 1.5, 0.5) for margin 0.5.
  CHECK(loss::HingeLoss{}(pred, label).to_vector() == std::vector<float>{0.25f, 1.5f});
  CHECK(loss::HingeLoss({.margin = 0.5})(pred, label).to_vector() == std::vector<float>{0, 1});
  // Gluon puts no bound on the margin.
  CHECK(loss::HingeLoss({.margin = -0.5})(pred, label).to_vector() == std::vector<float>{0, 0.25f});
}
TEST_CASE("weight, sample weights and batch_axis") {
  auto pred = nd::array<float>({2, 0.5f, -1, 0}, {2, 2});
  auto label = nd::array<float>({1, 1, 1, -1});
  CHECK(loss::HingeLoss({.weight = 2})(pred, label, nd::array<float>({1, 3}, {2, 1})).to_vector() ==
        std::vector<float>{0.5f, 9});
  CHECK(loss::HingeLoss({.batch_axis = 1})(pred, label).to_vector() == std::vector<float>{1, 0.75f});
}
TEST_CASE("gradients match central differences (double)") {
  loss::BasicHingeLoss<double> f({.margin = 0.5});
  CHECK(gradcheck([&](const V& x) { return f(x[0], x[1]); }, {rand_array({3, 4}), rand_array({3, 4}, 8)}));
  CHECK(gradcheck([&](const V& x) { return f(x[0], x[1], x[2]); },
                  {rand_array({3, 2}), rand_array({3, 2}, 8), rand_array({3}, 9)}));
}
TEST_CASE("matches PyTorch (element-wise ops)") {
  test::check_loss_references<loss::BasicHingeLoss>("HingeLoss", [](const nlohmann::json& o) {
    return loss::HingeLossOptions{.margin = o.value("margin", 1.0), .weight = o.value("weight", 1.0),
                                  .batch_axis = o.value("batch_axis", 0)};
  });
}
TEST_CASE("errors: label size, batch_axis") {
  CHECK_THROWS_WITH_AS(loss::HingeLoss{}(nd::zeros<float>({2, 3}), nd::zeros<float>({2, 2})),
                       doctest::Contains("HingeLoss: label of shape (2, 2) does not match pred of shape (2, 3)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(loss::HingeLoss({.batch_axis = -3})(nd::zeros<float>({2, 3}), nd::zeros<float>({2, 3})),
                       doctest::Contains("batch_axis -3 out of range for a loss of shape (2, 3)"), ShapeError);
}
TEST_CASE("a margin that is not a finite number is a ValueError (it would make every loss NaN)") {
  for (double m : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    CAPTURE(m);
    CHECK_THROWS_WITH_AS(loss::HingeLoss({.margin = m}),
                         doctest::Contains("HingeLoss: margin must be a finite number, got "), ValueError);
  }
}
}
