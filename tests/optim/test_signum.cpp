// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/signum.hpp>

#include <doctest/doctest.h>

#include "support/check_close.hpp"
#include "support/optimizer_references.hpp"

#include <gluino/nd/creation.hpp>

using namespace gluino;

TEST_SUITE("optim/signum") {
TEST_CASE("Signum: two steps by hand, wd_lh outside the sign") {
  optim::BasicSignum<double> opt({.learning_rate = 0.1, .wd_lh = 0.1});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  // mom = -0.1 * g = (-0.05, 0.2, -0.3); w = (1 - 0.1 * 0.1) * w + 0.1 * sign(mom)
  opt.update(0, w, nd::array<double>({0.5, -2.0, 3.0}));
  test::check_close(w.to_vector(), {0.89, -0.89, 0.395});
  // mom = 0.9 * mom - 0.1 * g = (-0.145, 0.155, 0.13); w = 0.99 * w + 0.1 * sign(mom)
  opt.update(0, w, nd::array<double>({1.0, 0.25, -4.0}));
  test::check_close(w.to_vector(), {0.7811, -0.7811, 0.49105});
  test::check_close(opt.state(0)[0].to_vector(), {-0.145, 0.155, 0.13});
}
TEST_CASE("Signum: wd and the clipped gradient enter the momentum") {
  optim::BasicSignum<double> opt({.learning_rate = 0.1, .momentum = 0.5, .wd = 1, .clip_gradient = 0.2});
  auto w = nd::array<double>({1.0, -1.0});
  // mom = -0.5 * (1 * w + clip(g)): g = (-0.5, 0.1) -> (-0.5 * (1 - 0.2), -0.5 * (-1 + 0.1)) = (-0.4, 0.45)
  opt.update(0, w, nd::array<double>({-0.5, 0.1}));
  test::check_close(opt.state(0)[0].to_vector(), {-0.4, 0.45});
  test::check_close(w.to_vector(), {0.9, -0.9});
}
TEST_CASE("signSGD (momentum 0): the sign of the raw gradient, wd as SGD's, no state") {
  optim::BasicSignum<double> opt({.learning_rate = 0.1, .momentum = 0, .wd = 0.1, .clip_gradient = 0});
  CHECK(opt.state_names().empty());
  auto w = nd::array<double>({1.0, -1.0, 0.5, 2.0});
  opt.update(0, w, nd::array<double>({0.5, -2.0, 3.0, 0.0}));  // clip_gradient 0 leaves the sign alone
  test::check_close(w.to_vector(), {0.89, -0.89, 0.395, 1.98});
}
TEST_CASE("defaults as Gluon, state names, option errors") {
  optim::Signum opt;
  CHECK(opt.name() == "signum");
  CHECK(opt.learning_rate() == 0.01);
  CHECK(opt.momentum() == 0.9);
  CHECK(opt.wd_lh() == 0);
  CHECK(opt.state_names() == std::vector<std::string>{"mom"});
  CHECK_THROWS_WITH_AS(optim::Signum({.momentum = 1}), "signum: momentum must be in [0, 1), got 1", ValueError);
  CHECK_THROWS_WITH_AS(optim::Signum({.wd_lh = -0.1}), doctest::Contains("signum: wd_lh"), ValueError);
  CHECK_THROWS_WITH_AS(optim::Signum({.momentum = 0, .wd_lh = 0.1}), doctest::Contains("wd_lh needs momentum > 0"),
                       ValueError);
}
TEST_CASE("by name: optim::create and Trainer") {
  auto opt = optim::create("signum", {{"momentum", 0.5}, {"wd_lh", 0.01}});
  CHECK(dynamic_cast<optim::Signum&>(*opt).wd_lh() == 0.01);
  test::check_trainer_matches("signum", {{"learning_rate", 0.01}, {"wd", 0.1}, {"wd_lh", 0.1}});
  test::check_trainer_matches("signum", {{"learning_rate", 0.01}, {"momentum", 0}});
}
TEST_CASE("5 steps match the NumPy transcription of MXNet's kernels (optimizers.json)") {
  CHECK(test::check_optimizer_references("signum") == 2);
}
}
