// SPDX-License-Identifier: Apache-2.0
#include <gluino/loss/kl_div_loss.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <gluino/nd/creation.hpp>
#include "support/gradcheck.hpp"
#include "support/loss_reference.hpp"

using namespace gluino;
using test::gradcheck;
using test::rand_array;
using V = std::vector<NDArray<double>>;

TEST_SUITE("loss/kl_div_loss") {
TEST_CASE("label * (log(label) - log-probabilities), the mean over the class axis") {
  // Row 0: KL((0.5, 0.5) || (0.25, 0.75)) / 2 = log(4 / 3) / 4; row 1: equal distributions, 0.
  auto logp = nd::log(nd::array<double>({0.25, 0.75, 0.4, 0.6}, {2, 2}));
  auto label = nd::array<double>({0.5, 0.5, 0.4, 0.6}, {2, 2});
  auto l = loss::BasicKLDivLoss<double>{}(logp, label);
  CHECK(l.shape() == Shape{2});
  CHECK(l.at(0) == doctest::Approx(std::log(4.0 / 3.0) / 4));
  CHECK(l.at(1) == doctest::Approx(0).epsilon(1e-10));  // Gluon's log(label + 1e-12)
}
TEST_CASE("from_logits = false: log_softmax over axis first") {
  // softmax(log 1, log 3) = (0.25, 0.75), along axis 0 of the (2, 1) column.
  auto logits = nd::log(nd::array<double>({1, 3}, {2, 1}));
  auto label = nd::array<double>({0.5, 0.5}, {2, 1});
  auto l = loss::BasicKLDivLoss<double>({.from_logits = false, .axis = 0, .batch_axis = 1})(logits, label);
  CHECK(l.shape() == Shape{1});
  CHECK(l.at(0) == doctest::Approx(std::log(4.0 / 3.0) / 4));
}
TEST_CASE("weight and sample weights") {
  auto logp = nd::log(nd::array<double>({0.25, 0.75, 0.25, 0.75}, {2, 2}));
  auto label = nd::array<double>({0.5, 0.5, 0.5, 0.5}, {2, 2});
  auto l = loss::BasicKLDivLoss<double>({.weight = 4})(logp, label, nd::array<double>({1, 0.5}, {2, 1}));
  CHECK(l.at(0) == doctest::Approx(std::log(4.0 / 3.0)));
  CHECK(l.at(1) == doctest::Approx(std::log(4.0 / 3.0) / 2));
}
TEST_CASE("gradients match central differences (double)") {
  SUBCASE("log-probabilities") {
    loss::BasicKLDivLoss<double> f;
    CHECK(gradcheck([&](const V& x) { return f(x[0], x[1]); }, {rand_array({3, 4}), rand_array({3, 4}, 8, 0.05, 1)}));
  }
  SUBCASE("logits, softmax over axis 1, with sample weights") {
    loss::BasicKLDivLoss<double> f({.from_logits = false, .axis = 1, .weight = 2});
    CHECK(gradcheck([&](const V& x) { return f(x[0], x[1], x[2]); },
                    {rand_array({2, 3, 2}), rand_array({2, 3, 2}, 8, 0.05, 1), rand_array({2, 1, 1}, 9)}));
  }
}
TEST_CASE("matches PyTorch's kl_div") {
  test::check_loss_references<loss::BasicKLDivLoss>("KLDivLoss", [](const nlohmann::json& o) {
    return loss::KLDivLossOptions{.from_logits = o.value("from_logits", true), .axis = o.value("axis", -1),
                                  .weight = o.value("weight", 1.0), .batch_axis = o.value("batch_axis", 0)};
  });
}
TEST_CASE("errors: label size, axis") {
  CHECK_THROWS_WITH_AS(loss::KLDivLoss{}(nd::zeros<float>({2, 3}), nd::zeros<float>({3, 3})),
                       doctest::Contains("KLDivLoss: label of shape (3, 3) does not match pred of shape (2, 3)"),
                       ShapeError);
  loss::KLDivLoss logits_axis_2({.from_logits = false, .axis = 2});
  CHECK_THROWS_WITH_AS(logits_axis_2(nd::zeros<float>({2, 3}), nd::zeros<float>({2, 3})),
                       doctest::Contains("KLDivLoss: axis 2 out of range for pred of shape (2, 3)"), ShapeError);
}
}
