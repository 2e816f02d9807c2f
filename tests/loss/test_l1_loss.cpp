// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/l1_loss.hpp>

#include <doctest/doctest.h>

#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/loss_reference.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("loss/l1_loss") {
TEST_CASE("|pred - label|, mean over the non-batch axes") {
  auto l = loss::L1Loss{}(nd::array<float>({1, -2, 3, 4}, {2, 2}), nd::array<float>({0, 2, 1, 1}, {2, 2}));
  CHECK(l.shape() == Shape{2});
  CHECK(l.to_vector() == std::vector<float>{2.5f, 2.5f});
}
TEST_CASE("weight, sample weights and batch_axis") {
  auto pred = nd::array<float>({1, -2, 3, 4}, {2, 2});
  auto zero = nd::zeros<float>({2, 2});
  CHECK(loss::L1Loss({.weight = 2})(pred, zero, nd::array<float>({1, 0}, {2, 1})).to_vector() ==
        std::vector<float>{3, 0});
  CHECK(loss::L1Loss({.batch_axis = 1})(pred, zero).to_vector() == std::vector<float>{2, 3});
}
TEST_CASE("gradients match central differences (double)") {
  loss::BasicL1Loss<double> f;
  CHECK(gradcheck([&](const V& x) { return f(x[0], x[1]); }, {rand_array({3, 4}), rand_array({3, 4}, 8)}));
}
TEST_CASE("errors: label size, batch_axis") {
  CHECK_THROWS_WITH_AS(loss::L1Loss{}(nd::zeros<float>({2, 3}), nd::zeros<float>({5})), doctest::Contains("(5,)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(loss::L1Loss({.batch_axis = 2})(nd::zeros<float>({2, 3}), nd::zeros<float>({2, 3})),
                       doctest::Contains("batch_axis 2 out of range for a loss of shape (2, 3)"), ShapeError);
}
TEST_CASE("matches PyTorch: weight, batch_axis 1, a (2, 1, 4) sample weight") {
  test::check_loss_references<loss::BasicL1Loss>("L1Loss", [](const nlohmann::json& o) {
    return loss::L1LossOptions{.weight = o.value("weight", 1.0), .batch_axis = o.value("batch_axis", 0)};
  });
}
}
