// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/poisson_nll_loss.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/loss_reference.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
// Stirling's approximation of log(t!), as Gluon adds it for t > 1.
double stirling_of(double t) { return t * std::log(t) - t + 0.5 * std::log(2 * std::numbers::pi * t); }
}  // namespace

TEST_SUITE("loss/poisson_nll_loss") {
TEST_CASE("exp(pred) - target * pred, one mean over every element") {
  auto pred = nd::array<double>({0, std::log(2.0), 1, -1}, {2, 2});
  auto target = nd::array<double>({1, 2, 0, 3}, {2, 2});
  auto l = loss::BasicPoissonNLLLoss<double>{}(pred, target);
  CHECK(l.shape() == Shape{1});
  CHECK(l.at(0) == doctest::Approx((1 + (2 - 2 * std::log(2.0)) + std::exp(1.0) + (std::exp(-1.0) + 3)) / 4));
}
TEST_CASE("from_logits = false: pred - target * log(pred + 1e-8)") {
  loss::BasicPoissonNLLLoss<double> rates({.from_logits = false});
  auto l = rates(nd::array<double>({1, 2}), nd::array<double>({1, 2}));
  CHECK(l.at(0) == doctest::Approx((1 + 2 - 2 * std::log(2.0)) / 2));
}
TEST_CASE("compute_full adds Stirling's term where target > 1; a target of 0 adds 0, not NaN") {
  auto pred = nd::zeros<double>({4});
  auto target = nd::array<double>({0, 0.5, 1, 3});
  auto l = loss::BasicPoissonNLLLoss<double>({.compute_full = true})(pred, target);
  CHECK(l.at(0) == doctest::Approx((4 + stirling_of(3)) / 4));
}
TEST_CASE("weight and sample weights, per sample along batch_axis") {
  auto pred = nd::zeros<float>({2, 2});
  auto target = nd::ones<float>({4});
  CHECK(loss::PoissonNLLLoss({.weight = 3})(pred, target, nd::array<float>({1, 0}, {2, 1})).to_vector() ==
        std::vector<float>{1.5f});
  CHECK(loss::PoissonNLLLoss({.batch_axis = 1})(pred, target, nd::array<float>({1, 0})).to_vector() ==
        std::vector<float>{0.5f});
}
TEST_CASE("gradients match central differences (double)") {
  SUBCASE("log rates") {
    loss::BasicPoissonNLLLoss<double> f({.weight = 0.5});
    CHECK(gradcheck([&](const V& x) { return f(x[0], x[1], x[2]); },
                    {rand_array({3, 4}), rand_array({3, 4}, 8, 0, 4), rand_array({3, 1}, 9)}));
  }
  SUBCASE("rates, compute_full") {
    loss::BasicPoissonNLLLoss<double> f({.from_logits = false, .compute_full = true});
    CHECK(gradcheck([&](const V& x) { return f(x[0], x[1]); },
                    {rand_array({3, 4}, 7, 0.5, 3), rand_array({12}, 8, 0.2, 4)}));
  }
}
TEST_CASE("matches PyTorch's poisson_nll_loss, reduction \"mean\"") {
  test::check_loss_references<loss::BasicPoissonNLLLoss>("PoissonNLLLoss", [](const nlohmann::json& o) {
    return loss::PoissonNLLLossOptions{.weight = o.value("weight", 1.0), .from_logits = o.value("from_logits", true),
                                       .batch_axis = o.value("batch_axis", 0),
                                       .compute_full = o.value("compute_full", false)};
  });
}
TEST_CASE("errors: target size, sample weight") {
  loss::PoissonNLLLoss f;
  CHECK_THROWS_WITH_AS(f(nd::zeros<float>({2, 3}), nd::zeros<float>({2})),
                       doctest::Contains("PoissonNLLLoss: target of shape (2,) does not match pred of shape (2, 3)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(f(nd::zeros<float>({2, 3}), nd::zeros<float>({2, 3}), nd::zeros<float>({4})),
                       doctest::Contains("sample_weight of shape (4,) does not broadcast to the loss of shape (2, 3)"),
                       ShapeError);
}
}
