// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/lamb.hpp>

#include <doctest/doctest.h>

#include "support/check_close.hpp"
#include "support/optimizer_references.hpp"

#include <cmath>
#include <gluino/nd/creation.hpp>

using namespace gluino;

TEST_SUITE("optim/lamb") {
TEST_CASE("two steps by hand: the trust ratio ||w|| / ||u||") {
  optim::BasicLAMB<double> opt({.learning_rate = 0.1});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  // Bias-corrected mean_hat = g, var_hat = g^2: u = g / (|g| + 1e-6) (about sign(g)), ||u|| about
  // sqrt(3), ||w|| = 1.5: w -= 0.1 * 1.5 / sqrt(3) * u
  opt.update(0, w, nd::array<double>({0.5, -2.0, 3.0}));
  const double u0 = 0.5 / (0.5 + 1e-6), u1 = 2 / (2 + 1e-6), u2 = 3 / (3 + 1e-6);
  const double ratio = 1.5 / std::sqrt(u0 * u0 + u1 * u1 + u2 * u2);
  test::check_close(w.to_vector(), {1 - 0.1 * ratio * u0, -1 + 0.1 * ratio * u1, 0.5 - 0.1 * ratio * u2});
  test::check_close(w.to_vector(), {0.913397551035, -0.913397421132, 0.413397406698}, 1e-10);
  opt.update(0, w, nd::array<double>({1.0, 0.25, -4.0}));
  test::check_close(w.to_vector(), {0.798445172439, -0.845208989732, 0.436444358527}, 1e-10);
  test::check_close(opt.state(0)[0].to_vector(), {0.145, -0.155, -0.13});
  test::check_close(opt.state(0)[1].to_vector(), {0.00124975, 0.0040585, 0.024991});
}
TEST_CASE("a zero weight takes ratio 1; bounds on ||w||; no bias correction") {
  optim::BasicLAMB<double> zero({.learning_rate = 0.1});
  auto w = nd::array<double>({0.0, 0.0});
  zero.update(0, w, nd::array<double>({1.0, -1.0}));  // u = g / (|g| + 1e-6), ratio 1
  test::check_close(w.to_vector(), {-0.1 / (1 + 1e-6), 0.1 / (1 + 1e-6)});
  optim::BasicLAMB<double> low({.learning_rate = 0.1, .lower_bound = 2.0});
  w = nd::array<double>({0.0, 0.0});
  low.update(0, w, nd::array<double>({1.0, -1.0}));  // r1 = max(0, 2) = 2, r2 = sqrt(2) (about)
  CHECK(w.at(0) == doctest::Approx(-0.1 * std::sqrt(2.0)).epsilon(1e-5));
  optim::BasicLAMB<double> high({.learning_rate = 0.1, .upper_bound = 0.5, .bias_correction = false});
  w = nd::array<double>({3.0, 4.0});
  // No bias correction: mean = 0.1 g, var = 0.001 g^2, u = 0.1 g / (0.0316 |g| + 1e-6) (about 3.16 sign(g));
  // r1 = min(5, 0.5) = 0.5, so each element moves by 0.1 * 0.5 / sqrt(2)
  high.update(0, w, nd::array<double>({1.0, 1.0}));
  CHECK(w.at(0) == doctest::Approx(3 - 0.05 / std::sqrt(2.0)).epsilon(1e-12));
}
TEST_CASE("defaults as Gluon, state names, option errors") {
  optim::LAMB opt;
  CHECK(opt.name() == "lamb");
  CHECK(opt.learning_rate() == 0.001);
  CHECK(opt.bias_correction());
  CHECK(opt.state_names() == std::vector<std::string>{"mean", "var"});
  CHECK_THROWS_WITH_AS(optim::LAMB({.lower_bound = 2, .upper_bound = 1}),
                       "lamb: lower_bound must be <= upper_bound, got 2 > 1", ValueError);
  CHECK_THROWS_WITH_AS(optim::LAMB({.beta1 = 1}), "lamb: beta1 must be in [0, 1), got 1", ValueError);
  CHECK_THROWS_WITH_AS(optim::LAMB({.epsilon = 0}), doctest::Contains("lamb: epsilon"), ValueError);
}
TEST_CASE("by name: optim::create and Trainer") {
  auto opt = optim::create("lamb", {{"bias_correction", 0}, {"lower_bound", 0.1}, {"upper_bound", 10}});
  CHECK_FALSE(dynamic_cast<optim::LAMB&>(*opt).bias_correction());
  test::check_trainer_matches("lamb", {{"learning_rate", 0.01}, {"wd", 0.1}});
}
TEST_CASE("5 steps match the NumPy transcription of MXNet's lamb_update_phase1/2 (optimizers.json)") {
  CHECK(test::check_optimizer_references("lamb") == 2);
}
}
