// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/adamax.hpp>

#include <doctest/doctest.h>

#include "support/check_close.hpp"
#include "support/optimizer_references.hpp"

#include <cmath>
#include <gluino/nd/creation.hpp>

using namespace gluino;

TEST_SUITE("optim/adamax") {
TEST_CASE("two steps by hand: infinity norm, bias-corrected rate") {
  optim::BasicAdamax<double> opt({.learning_rate = 0.1});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  // mean = 0.1 * g, u = |g|: w -= 0.1 / (1 - 0.9) * 0.1 * g / |g| = 0.1 * sign(g)
  opt.update(0, w, nd::array<double>({0.5, -2.0, 3.0}));
  test::check_close(w.to_vector(), {0.9, -0.9, 0.4});
  // mean = 0.9 * mean + 0.1 * g = (0.145, -0.155, -0.13); u = max(0.999 * u, |g|) = (1, 1.998, 4);
  // w -= 0.1 / (1 - 0.81) * mean / u: 0.9 - 0.145 / 1.9 = 0.823684211
  opt.update(0, w, nd::array<double>({1.0, 0.25, -4.0}));
  test::check_close(w.to_vector(), {0.9 - 0.145 / 1.9, -0.9 + 0.155 / 1.998 / 1.9, 0.4 + 0.13 / 4 / 1.9});
  test::check_close(opt.state(0)[0].to_vector(), {0.145, -0.155, -0.13});
  test::check_close(opt.state(0)[1].to_vector(), {1, 1.998, 4});
}
TEST_CASE("wd inside the clip; an element whose gradients were all 0 stays as it was (MXNet: NaN)") {
  optim::BasicAdamax<double> opt({.learning_rate = 0.1, .wd = 1, .clip_gradient = 0.5});
  auto w = nd::array<double>({1.0, 0.0});
  opt.update(0, w, nd::array<double>({2.0, 0.0}));  // g = clip(2 + 1 * 1) = 0.5; g = 0 for w = 0
  CHECK(w.at(0) == doctest::Approx(0.9));
  CHECK(w.at(1) == 0.0);
  CHECK_FALSE(std::isnan(w.at(1)));
}
TEST_CASE("defaults as Gluon, state names, option errors") {
  optim::Adamax opt;
  CHECK(opt.name() == "adamax");
  CHECK(opt.learning_rate() == 0.002);
  CHECK(opt.state_names() == std::vector<std::string>{"mean", "u"});
  CHECK_THROWS_WITH_AS(optim::Adamax({.beta1 = 1}), "adamax: beta1 must be in [0, 1), got 1", ValueError);
  CHECK_THROWS_WITH_AS(optim::Adamax({.beta2 = -0.5}), doctest::Contains("adamax: beta2"), ValueError);
}
TEST_CASE("by name: optim::create (no epsilon, as Gluon) and Trainer") {
  CHECK(optim::create("adamax", {{"beta2", 0.99}})->name() == "adamax");
  CHECK_THROWS_WITH_AS(optim::create("adamax", {{"epsilon", 1e-8}}), doctest::Contains("unknown option 'epsilon'"),
                       ValueError);
  test::check_trainer_matches("adamax", {{"learning_rate", 0.01}, {"wd", 0.1}});
}
TEST_CASE("5 steps match torch.optim.Adamax (eps 0) and MXNet's rule in NumPy (clipping) (optimizers.json)") {
  CHECK(test::check_optimizer_references("adamax") == 2);
}
}
