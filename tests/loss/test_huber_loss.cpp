// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/huber_loss.hpp>

#include <doctest/doctest.h>

#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/loss_reference.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("loss/huber_loss") {
TEST_CASE("quadratic up to rho, linear beyond; mean over the non-batch axes") {
  auto pred = nd::array<float>({0, 0.5f, 3, -2}, {2, 2});
  auto zero = nd::zeros<float>({2, 2});
  // |d| = (0, 0.5, 3, 2): rho 1 gives (0, 0.125, 2.5, 1.5); rho 2 gives (0, 0.0625, 2, 1).
  CHECK(loss::HuberLoss{}(pred, zero).to_vector() == std::vector<float>{0.0625f, 2});
  CHECK(loss::HuberLoss({.rho = 2})(pred, zero).to_vector() == std::vector<float>{0.03125f, 1.5f});
}
TEST_CASE("weight, sample weights and batch_axis") {
  auto pred = nd::array<float>({0, 0.5f, 3, -2}, {2, 2});
  auto zero = nd::zeros<float>({4});
  CHECK(loss::HuberLoss({.weight = 2})(pred, zero, nd::array<float>({1, 0}, {2, 1})).to_vector() ==
        std::vector<float>{0.125f, 0});
  CHECK(loss::HuberLoss({.batch_axis = 1})(pred, zero).to_vector() == std::vector<float>{1.25f, 0.8125f});
}
TEST_CASE("gradient: d / rho inside, sign(d) at and beyond rho (as Gluon's where)") {
  auto pred = nd::array<float>({1, 0.5f, -1, -3}, {4, 1});
  pred.attach_grad();
  {
    autograd::record rec;
    loss::HuberLoss{}(pred, nd::zeros<float>({4})).backward();
  }
  CHECK(pred.grad().to_vector() == std::vector<float>{1, 0.5f, -1, -1});
}
TEST_CASE("gradients match central differences (double)") {
  loss::BasicHuberLoss<double> f({.rho = 0.5});
  CHECK(gradcheck([&](const V& x) { return f(x[0], x[1]); }, {rand_array({3, 4}), rand_array({3, 4}, 8)}));
  CHECK(gradcheck([&](const V& x) { return f(x[0], x[1], x[2]); },
                  {rand_array({3, 2}), rand_array({6}, 8), rand_array({3, 1}, 9)}));
}
TEST_CASE("matches PyTorch's smooth_l1_loss(beta = rho)") {
  test::check_loss_references<loss::BasicHuberLoss>("HuberLoss", [](const nlohmann::json& o) {
    return loss::HuberLossOptions{.rho = o.value("rho", 1.0), .weight = o.value("weight", 1.0),
                                  .batch_axis = o.value("batch_axis", 0)};
  });
}
TEST_CASE("errors: label size, rho") {
  CHECK_THROWS_WITH_AS(loss::HuberLoss{}(nd::zeros<float>({2, 3}), nd::zeros<float>({5})),
                       doctest::Contains("HuberLoss: label of shape (5,) does not match pred of shape (2, 3)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(loss::HuberLoss({.rho = 0}),
                       doctest::Contains("HuberLoss: rho must be positive and finite, got 0"), ValueError);
  CHECK_THROWS_AS(loss::HuberLoss({.rho = -1}), ValueError);
}
}
