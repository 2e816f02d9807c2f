// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/sigmoid_binary_cross_entropy_loss.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/loss_reference.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

namespace {
double sig(double x) { return 1 / (1 + std::exp(-x)); }
double bce(double x, double z) { return -(z * std::log(sig(x)) + (1 - z) * std::log(1 - sig(x))); }
}  // namespace

TEST_SUITE("loss/sigmoid_binary_cross_entropy_loss") {
TEST_CASE("logits: values from the definition") {
  auto pred = nd::array<double>({0.5, -1, 2, -0.3}, {2, 2});
  auto label = nd::array<double>({1, 0, 0, 1}, {2, 2});
  auto l = loss::BasicSigmoidBinaryCrossEntropyLoss<double>{}(pred, label);
  CHECK(l.shape() == Shape{2});
  CHECK(l.at(0) == doctest::Approx((bce(0.5, 1) + bce(-1, 0)) / 2));
  CHECK(l.at(1) == doctest::Approx((bce(2, 0) + bce(-0.3, 1)) / 2));
}
TEST_CASE("stable for huge logits") {
  auto l = loss::SigmoidBinaryCrossEntropyLoss{}(nd::array<float>({100, -100}, {2, 1}), nd::array<float>({0, 0}));
  CHECK(l.at(0) == doctest::Approx(100));
  CHECK(l.at(1) == doctest::Approx(0));
}
TEST_CASE("from_sigmoid: probabilities give the same value") {
  auto x = nd::array<double>({0.5, -1, 2, -0.3}, {2, 2});
  auto label = nd::array<double>({1, 0, 0.3, 1}, {2, 2});
  auto a = loss::BasicSigmoidBinaryCrossEntropyLoss<double>{}(x, label);
  auto b = loss::BasicSigmoidBinaryCrossEntropyLoss<double>({.from_sigmoid = true})(nd::sigmoid(x), label);
  CHECK(b.at(0) == doctest::Approx(a.at(0)));
  CHECK(b.at(1) == doctest::Approx(a.at(1)));
}
TEST_CASE("pos_weight scales the positive term") {
  auto x = nd::array<double>({0.5, -1}, {1, 2});
  auto label = nd::array<double>({1, 0}, {1, 2});
  auto pw = nd::array<double>({3, 3});
  loss::BasicSigmoidBinaryCrossEntropyLoss<double> logits, probs({.from_sigmoid = true});
  const double expect = (3 * bce(0.5, 1) + bce(-1, 0)) / 2;
  CHECK(logits(x, label, {}, pw).at(0) == doctest::Approx(expect));
  CHECK(probs(nd::sigmoid(x), label, {}, pw).at(0) == doctest::Approx(expect));
}
TEST_CASE("gradients match central differences (double)") {
  SUBCASE("logits, with sample weights") {
    loss::BasicSigmoidBinaryCrossEntropyLoss<double> f;
    CHECK(gradcheck([&](const V& x) { return f(x[0], x[1], x[2]); },
                    {rand_array({3, 2}, 7, -3, 3), rand_array({3, 2}, 8, 0, 1), rand_array({3, 1}, 9)}));
  }
  SUBCASE("logits, pos_weight") {
    loss::BasicSigmoidBinaryCrossEntropyLoss<double> f;
    CHECK(gradcheck([&](const V& x) { return f(x[0], x[1], {}, x[2]); },
                    {rand_array({3, 2}, 7, -3, 3), rand_array({3, 2}, 8, 0, 1), rand_array({2}, 9, 0.5, 2)}));
  }
  SUBCASE("from_sigmoid") {
    loss::BasicSigmoidBinaryCrossEntropyLoss<double> f({.from_sigmoid = true});
    CHECK(gradcheck([&](const V& x) { return f(x[0], x[1]); },
                    {rand_array({3, 2}, 7, 0.1, 0.9), rand_array({3, 2}, 8, 0, 1)}));
  }
}
TEST_CASE("errors name the shapes") {
  loss::SigmoidBinaryCrossEntropyLoss f;
  CHECK_THROWS_WITH_AS(f(nd::zeros<float>({2, 3}), nd::zeros<float>({2})), doctest::Contains("(2, 3)"), ShapeError);
  CHECK_THROWS_WITH_AS(f(nd::zeros<float>({2, 3}), nd::zeros<float>({2, 3}), {}, nd::zeros<float>({2})),
                       doctest::Contains("(2,)"), ShapeError);
}
TEST_CASE("matches PyTorch's binary_cross_entropy(_with_logits): sample weights (1, C) and (N,) at batch_axis 1") {
  test::check_loss_references<loss::BasicSigmoidBinaryCrossEntropyLoss>(
      "SigmoidBinaryCrossEntropyLoss", [](const nlohmann::json& o) {
        return loss::SigmoidBinaryCrossEntropyLossOptions{.from_sigmoid = o.value("from_sigmoid", false),
                                                          .weight = o.value("weight", 1.0),
                                                          .batch_axis = o.value("batch_axis", 0)};
      });
}
}
