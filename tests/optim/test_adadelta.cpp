// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/adadelta.hpp>

#include <doctest/doctest.h>

#include "support/check_close.hpp"
#include "support/optimizer_references.hpp"

#include <gluino/nd/creation.hpp>

using namespace gluino;

TEST_SUITE("optim/adadelta") {
TEST_CASE("two steps by hand: accumulators, wd outside the rule and not scaled by lr") {
  optim::BasicAdaDelta<double> opt({.epsilon = 0.01, .wd = 0.1});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  // acc_g = 0.1 * g^2 = (0.025, 0.4, 0.9); delta = sqrt(0 + 0.01) / sqrt(acc_g + 0.01) * g:
  // 0.1 / sqrt(0.035) * 0.5 = 0.267261242; w -= 1 * delta + 0.1 * w: 1 - 0.267261242 - 0.1 = 0.632738758
  opt.update(0, w, nd::array<double>({0.5, -2.0, 3.0}));
  test::check_close(w.to_vector(), {0.632738758088, -0.587652476223, 0.135514548983}, 1e-10);
  opt.update(0, w, nd::array<double>({1.0, 0.25, -4.0}));
  test::check_close(w.to_vector(), {0.209770492681, -0.586173734698, 0.484599080685}, 1e-10);
  test::check_close(opt.state(0)[0].to_vector(), {0.1225, 0.36625, 2.41});
  test::check_close(opt.state(0)[1].to_vector(), {0.0193665768194, 0.00910866218297, 0.0220515847789}, 1e-10);
}
TEST_CASE("learning_rate scales delta only (MXNet 1.x's rule is learning_rate 1)") {
  optim::BasicAdaDelta<double> one, half({.learning_rate = 0.5});
  auto w1 = nd::array<double>({1.0, -1.0, 0.5}), w2 = w1.copy();
  one.update(0, w1, nd::array<double>({0.5, -2.0, 3.0}));
  half.update(0, w2, nd::array<double>({0.5, -2.0, 3.0}));
  for (std::size_t i = 0; i < 3; ++i) {
    const double w0 = i == 0 ? 1.0 : (i == 1 ? -1.0 : 0.5);
    CHECK(w2.at(i) - w0 == doctest::Approx(0.5 * (w1.at(i) - w0)).epsilon(1e-12));
  }
}
TEST_CASE("defaults as Gluon, state names, option errors") {
  optim::AdaDelta opt;
  CHECK(opt.name() == "adadelta");
  CHECK(opt.learning_rate() == 1.0);
  CHECK(opt.rho() == 0.9);
  CHECK(opt.state_names() == std::vector<std::string>{"acc_g", "acc_delta"});
  CHECK_THROWS_WITH_AS(optim::AdaDelta({.rho = 1}), "adadelta: rho must be in [0, 1), got 1", ValueError);
  CHECK_THROWS_WITH_AS(optim::AdaDelta({.epsilon = -1}), doctest::Contains("adadelta: epsilon"), ValueError);
}
TEST_CASE("by name: optim::create and Trainer") {
  auto opt = optim::create<double>("adadelta", {{"rho", 0.5}, {"epsilon", 1e-6}});
  CHECK(dynamic_cast<optim::BasicAdaDelta<double>&>(*opt).rho() == 0.5);
  test::check_trainer_matches("adadelta", {{"learning_rate", 0.5}, {"wd", 0.01}, {"rescale_grad", 2}});
}
TEST_CASE("5 steps match torch.optim.Adadelta (wd 0) and MXNet's rule in NumPy (wd) (optimizers.json)") {
  CHECK(test::check_optimizer_references("adadelta") == 2);
}
}
