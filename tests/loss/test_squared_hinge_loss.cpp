// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/squared_hinge_loss.hpp>

#include <doctest/doctest.h>

#include <cmath>

#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/loss_reference.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("loss/squared_hinge_loss") {
TEST_CASE("max(0, margin - pred * label)^2, mean over the non-batch axes") {
  auto pred = nd::array<float>({2, 0.5f, -1, 0}, {2, 2});
  auto label = nd::array<float>({1, 1, 1, -1}, {2, 2});
  // margin - pred * label = (-1, 0.5, 2, 1) for margin 1, (1, 2.5, 4, 3) for margin 3.
  CHECK(loss::SquaredHingeLoss{}(pred, label).to_vector() == std::vector<float>{0.125f, 2.5f});
  CHECK(loss::SquaredHingeLoss({.margin = 3})(pred, label).to_vector() == std::vector<float>{3.625f, 12.5f});
}
TEST_CASE("weight, sample weights and batch_axis") {
  auto pred = nd::array<float>({2, 0.5f, -1, 0}, {2, 2});
  auto label = nd::array<float>({1, 1, 1, -1});
  CHECK(loss::SquaredHingeLoss({.weight = 4})(pred, label, nd::array<float>({0, 1}, {2, 1})).to_vector() ==
        std::vector<float>{0, 10});
  CHECK(loss::SquaredHingeLoss({.batch_axis = -1})(pred, label).to_vector() == std::vector<float>{2, 0.625f});
}
TEST_CASE("gradients match central differences (double)") {
  loss::BasicSquaredHingeLoss<double> f({.margin = 0.5, .weight = 2});
  CHECK(gradcheck([&](const V& x) { return f(x[0], x[1]); }, {rand_array({3, 4}), rand_array({3, 4}, 8)}));
  CHECK(gradcheck([&](const V& x) { return f(x[0], x[1], x[2]); },
                  {rand_array({3, 2}), rand_array({3, 2}, 8), rand_array({3, 1}, 9)}));
}
TEST_CASE("matches PyTorch (element-wise ops)") {
  test::check_loss_references<loss::BasicSquaredHingeLoss>("SquaredHingeLoss", [](const nlohmann::json& o) {
    return loss::SquaredHingeLossOptions{.margin = o.value("margin", 1.0), .weight = o.value("weight", 1.0),
                                         .batch_axis = o.value("batch_axis", 0)};
  });
}
TEST_CASE("errors: label size, sample weight") {
  loss::SquaredHingeLoss f;
  CHECK_THROWS_WITH_AS(f(nd::zeros<float>({2, 3}), nd::zeros<float>({7})),
                       doctest::Contains("SquaredHingeLoss: label of shape (7,) does not match pred of shape (2, 3)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(f(nd::zeros<float>({2, 3}), nd::zeros<float>({2, 3}), nd::zeros<float>({3, 1})),
                       doctest::Contains("sample_weight of shape (3, 1) does not broadcast"), ShapeError);
}
TEST_CASE("a margin that is not a finite number is a ValueError (it would make every loss NaN)") {
  for (double m : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    CAPTURE(m);
    CHECK_THROWS_WITH_AS(loss::SquaredHingeLoss({.margin = m}),
                         doctest::Contains("SquaredHingeLoss: margin must be a finite number, got "), ValueError);
  }
}
}
