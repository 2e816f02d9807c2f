// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/l2_loss.hpp>

#include <doctest/doctest.h>

#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/loss_reference.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("loss/l2_loss") {
TEST_CASE("0.5 * (pred - label)^2, mean over the non-batch axes") {
  auto pred = nd::array<float>({1, 2, 3, 4}, {2, 2});
  auto label = nd::array<float>({0, 2, 1, 1}, {2, 2});
  auto l = loss::L2Loss{}(pred, label);
  CHECK(l.shape() == Shape{2});
  CHECK(l.at(0) == doctest::Approx((0.5 * 1 + 0.5 * 0) / 2));
  CHECK(l.at(1) == doctest::Approx((0.5 * 4 + 0.5 * 9) / 2));
}
TEST_CASE("label of pred's size is reshaped; 1-D pred keeps one loss per sample") {
  auto l = loss::L2Loss{}(nd::array<float>({1, 2, 3}, {3, 1}), nd::array<float>({0, 0, 0}));
  CHECK(l.to_vector() == std::vector<float>{0.5f, 2.0f, 4.5f});
  auto l1d = loss::L2Loss{}(nd::array<float>({1, 2}), nd::array<float>({0, 0}));
  CHECK(l1d.to_vector() == std::vector<float>{0.5f, 2.0f});
}
TEST_CASE("weight and sample weights") {
  auto pred = nd::array<float>({1, 2}, {2, 1});
  auto label = nd::zeros<float>({2, 1});
  auto l = loss::L2Loss({.weight = 2})(pred, label, nd::array<float>({3, 0}, {2, 1}));
  CHECK(l.to_vector() == std::vector<float>{3.0f, 0.0f});
}
TEST_CASE("gradients match central differences (double)") {
  loss::BasicL2Loss<double> f({.weight = 1.5});
  CHECK(gradcheck([&](const V& x) { return f(x[0], x[1]); }, {rand_array({3, 2, 2}), rand_array({3, 4}, 8)}));
  CHECK(gradcheck([&](const V& x) { return f(x[0], x[1], x[2]); },
                  {rand_array({3, 2}), rand_array({3, 2}, 8), rand_array({3, 1}, 9)}));
}
TEST_CASE("a label of another size names both shapes") {
  CHECK_THROWS_WITH_AS(loss::L2Loss{}(nd::zeros<float>({2, 3}), nd::zeros<float>({2, 2})),
                       doctest::Contains("label of shape (2, 2) does not match pred of shape (2, 3)"), ShapeError);
}
TEST_CASE("matches PyTorch: sample weights (1,), (N, 1), (4,) on the last batch axis, full; batch_axis 1, -1") {
  test::check_loss_references<loss::BasicL2Loss>("L2Loss", [](const nlohmann::json& o) {
    return loss::L2LossOptions{.weight = o.value("weight", 1.0), .batch_axis = o.value("batch_axis", 0)};
  });
}
}
