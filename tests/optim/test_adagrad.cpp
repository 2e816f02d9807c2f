// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/adagrad.hpp>

#include <doctest/doctest.h>

#include "support/check_close.hpp"
#include "support/optimizer_references.hpp"

#include <gluino/nd/creation.hpp>

using namespace gluino;

TEST_SUITE("optim/adagrad") {
TEST_CASE("two steps by hand: history, eps under the root, wd outside, clipping") {
  optim::BasicAdaGrad<double> opt({.learning_rate = 0.1, .wd = 0.1, .clip_gradient = 2.5});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  // g = clip(0.5, -2, 3) = (0.5, -2, 2.5); history = g^2 = (0.25, 4, 6.25);
  // w -= 0.1 * (g / sqrt(history + 1e-7) + 0.1 * w): 1 - 0.1 * (0.5 / sqrt(0.2500001) + 0.1) = 0.89000002
  opt.update(0, w, nd::array<double>({0.5, -2.0, 3.0}));
  test::check_close(w.to_vector(), {0.89000002, -0.89000000125, 0.3950000008}, 1e-10);
  // g = (1, 0.25, -2.5); history = (1.25, 4.0625, 12.5)
  opt.update(0, w, nd::array<double>({1.0, 0.25, -4.0}));
  test::check_close(w.to_vector(), {0.791657304278, -0.893503474544, 0.461760678628}, 1e-10);
  test::check_close(opt.state(0)[0].to_vector(), {1.25, 4.0625, 12.5});
}
TEST_CASE("defaults as Gluon, state names, option errors") {
  optim::AdaGrad opt;
  CHECK(opt.name() == "adagrad");
  CHECK(opt.learning_rate() == 0.01);
  CHECK(opt.eps() == 1e-7);
  CHECK(opt.wd() == 0);
  CHECK(opt.state_names() == std::vector<std::string>{"history"});
  CHECK_THROWS_WITH_AS(optim::AdaGrad({.eps = 0}), "adagrad: eps must be a finite number > 0, got 0", ValueError);
  CHECK_THROWS_WITH_AS(optim::AdaGrad({.learning_rate = -1}), doctest::Contains("adagrad: learning_rate"), ValueError);
}
TEST_CASE("by name: optim::create (Gluon's key is eps) and Trainer") {
  auto opt = optim::create("AdaGrad", {{"learning_rate", 0.5}, {"eps", 1e-6}});
  CHECK(opt->learning_rate() == 0.5);
  CHECK(dynamic_cast<optim::AdaGrad&>(*opt).eps() == 1e-6);
  CHECK_THROWS_WITH_AS(optim::create("adagrad", {{"epsilon", 1e-6}}),
                       doctest::Contains("unknown option 'epsilon' for optimizer 'adagrad'"), ValueError);
  test::check_trainer_matches("adagrad", {{"learning_rate", 0.1}, {"wd", 0.01}, {"clip_gradient", 0.3}});
}
TEST_CASE("5 steps match the NumPy transcription of MXNet's rule (optimizers.json)") {
  CHECK(test::check_optimizer_references("adagrad") == 2);
}
}
