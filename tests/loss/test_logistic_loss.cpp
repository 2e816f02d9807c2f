// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/logistic_loss.hpp>

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
// log(1 + exp(-x * y)), straight from the definition.
double logistic_of(double x, double y) { return std::log1p(std::exp(-x * y)); }
}  // namespace

TEST_SUITE("loss/logistic_loss") {
TEST_CASE("signed labels: log(1 + exp(-pred * label)); binary labels 0/1 give the same") {
  auto pred = nd::array<double>({0, 2, -1.5, 0.5}, {2, 2});
  auto l = loss::BasicLogisticLoss<double>{}(pred, nd::array<double>({1, -1, -1, 1}, {2, 2}));
  CHECK(l.shape() == Shape{2});
  CHECK(l.at(0) == doctest::Approx((logistic_of(0, 1) + logistic_of(2, -1)) / 2));
  CHECK(l.at(1) == doctest::Approx((logistic_of(-1.5, -1) + logistic_of(0.5, 1)) / 2));
  auto b = loss::BasicLogisticLoss<double>({.label_format = "binary"})(pred, nd::array<double>({1, 0, 0, 1}, {2, 2}));
  CHECK(b.at(0) == doctest::Approx(l.at(0)));
  CHECK(b.at(1) == doctest::Approx(l.at(1)));
}
TEST_CASE("stable for huge logits") {
  auto l = loss::LogisticLoss{}(nd::array<float>({100, -100}, {2, 1}), nd::array<float>({-1, -1}));
  CHECK(l.at(0) == doctest::Approx(100));
  CHECK(l.at(1) == doctest::Approx(0));
}
TEST_CASE("weight, sample weights and batch_axis") {
  auto pred = nd::array<float>({0, 0, 0, 0}, {2, 2});
  auto label = nd::array<float>({1, -1, 1, 1});
  const float ln2 = std::log(2.0f);
  auto w = loss::LogisticLoss({.weight = 2})(pred, label, nd::array<float>({1, 0}, {2, 1}));
  CHECK(w.at(0) == doctest::Approx(2 * ln2));
  CHECK(w.at(1) == 0);
  auto t = loss::LogisticLoss({.batch_axis = 1})(nd::array<float>({0, 100, 0, 100}, {2, 2}), label);
  CHECK(t.at(0) == doctest::Approx(ln2));  // column 0: log 2 twice
  CHECK(t.at(1) == doctest::Approx(50));   // column 1: 100 (label -1) and 0 (label 1)
}
TEST_CASE("gradients match central differences (double)") {
  SUBCASE("signed, with sample weights") {
    loss::BasicLogisticLoss<double> f;
    CHECK(gradcheck([&](const V& x) { return f(x[0], x[1], x[2]); },
                    {rand_array({3, 4}, 7, -3, 3), rand_array({3, 4}, 8), rand_array({3, 1}, 9)}));
  }
  SUBCASE("binary") {
    loss::BasicLogisticLoss<double> f({.weight = 0.5, .label_format = "binary"});
    CHECK(gradcheck([&](const V& x) { return f(x[0], x[1]); },
                    {rand_array({2, 3, 2}, 7, -3, 3), rand_array({12}, 8, 0, 1)}));
  }
}
TEST_CASE("matches PyTorch's binary_cross_entropy_with_logits on (label + 1) / 2") {
  test::check_loss_references<loss::BasicLogisticLoss>("LogisticLoss", [](const nlohmann::json& o) {
    return loss::LogisticLossOptions{.weight = o.value("weight", 1.0), .batch_axis = o.value("batch_axis", 0),
                                     .label_format = o.value("label_format", "signed")};
  });
}
TEST_CASE("errors: label_format, label size") {
  CHECK_THROWS_WITH_AS(loss::LogisticLoss({.label_format = "foo"}),
                       doctest::Contains("LogisticLoss: label_format must be \"signed\" or \"binary\", got \"foo\""),
                       ValueError);
  CHECK_THROWS_WITH_AS(loss::LogisticLoss{}(nd::zeros<float>({2, 3}), nd::zeros<float>({2})),
                       doctest::Contains("label of shape (2,) does not match pred of shape (2, 3)"), ShapeError);
}
}
