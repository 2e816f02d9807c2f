// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/adamw.hpp>

#include <doctest/doctest.h>

#include "support/check_close.hpp"
#include "support/optimizer_references.hpp"

#include <cmath>
#include <gluino/nd/creation.hpp>

using namespace gluino;

TEST_SUITE("optim/adamw") {
TEST_CASE("two steps by hand: eta carries the bias correction, to the decay too") {
  optim::BasicAdamW<double> opt({.learning_rate = 0.1, .wd = 0.1});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  // eta = 0.1 * sqrt(1 - 0.999) / (1 - 0.9) = sqrt(0.001); mean = 0.1 g; sqrt(var) = sqrt(0.001) |g|;
  // w -= eta * (mean / (sqrt(var) + 1e-6) + 0.1 * w)
  opt.update(0, w, nd::array<double>({0.5, -2.0, 3.0}));
  const double eta = std::sqrt(0.001), s = std::sqrt(0.001);
  test::check_close(w.to_vector(), {1 - eta * (0.05 / (s * 0.5 + 1e-6) + 0.1), -1 - eta * (-0.2 / (s * 2 + 1e-6) - 0.1),
                                    0.5 - eta * (0.3 / (s * 3 + 1e-6) + 0.05)});
  test::check_close(w.to_vector(), {0.896844046495, -0.896839303454, 0.398419915251}, 1e-10);
  opt.update(0, w, nd::array<double>({1.0, 0.25, -4.0}));
  test::check_close(w.to_vector(), {0.798218150014, -0.837476331695, 0.416833285059}, 1e-10);
  test::check_close(opt.state(0)[0].to_vector(), {0.145, -0.155, -0.13});
  test::check_close(opt.state(0)[1].to_vector(), {0.00124975, 0.0040585, 0.024991});
}
TEST_CASE("correct_bias off: eta = lr") {
  optim::BasicAdamW<double> opt({.learning_rate = 0.1, .correct_bias = false, .wd = 0.5});
  auto w = nd::array<double>({2.0});
  opt.update(0, w, nd::array<double>({0.0}));  // mean = var = 0: only the decay, w -= 0.1 * 0.5 * w
  CHECK(w.at(0) == doctest::Approx(1.9).epsilon(1e-15));
}
TEST_CASE("defaults as Gluon (MXNet 2.0's AdamW), state names, option errors") {
  optim::AdamW opt;
  CHECK(opt.name() == "adamw");
  CHECK(opt.learning_rate() == 0.001);
  CHECK(opt.wd() == 0);
  CHECK(opt.correct_bias());
  CHECK(opt.state_names() == std::vector<std::string>{"mean", "var"});
  CHECK_THROWS_WITH_AS(optim::AdamW({.beta2 = 1}), "adamw: beta2 must be in [0, 1), got 1", ValueError);
  CHECK_THROWS_WITH_AS(optim::AdamW({.epsilon = 0}), doctest::Contains("adamw: epsilon"), ValueError);
  CHECK_THROWS_WITH_AS(optim::AdamW({.wd = -0.01}), doctest::Contains("adamw: wd"), ValueError);
}
TEST_CASE("by name: optim::create and Trainer") {
  auto opt = optim::create("adamw", {{"correct_bias", 0}, {"wd", 0.01}});
  CHECK_FALSE(dynamic_cast<optim::AdamW&>(*opt).correct_bias());
  test::check_trainer_matches("adamw", {{"learning_rate", 0.01}, {"wd", 0.1}, {"clip_gradient", 0.5}});
}
TEST_CASE("5 steps match the NumPy transcription of MXNet's adamw_update (optimizers.json)") {
  CHECK(test::check_optimizer_references("adamw") == 2);
}
}
