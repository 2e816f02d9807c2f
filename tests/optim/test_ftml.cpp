// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/ftml.hpp>

#include <doctest/doctest.h>

#include "support/check_close.hpp"
#include "support/optimizer_references.hpp"

#include <gluino/nd/creation.hpp>

using namespace gluino;

TEST_SUITE("optim/ftml") {
TEST_CASE("two steps by hand") {
  optim::BasicFTML<double> opt({.learning_rate = 0.1});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  // v = 0.001 g^2; d = (1 - 0.6) / 0.1 * (sqrt(v / 0.001) + 1e-8) = 4 (|g| + 1e-8);
  // z = 0.4 g - d w; w = -z / d = w - 0.1 g / (|g| + 1e-8)
  opt.update(0, w, nd::array<double>({0.5, -2.0, 3.0}));
  test::check_close(w.to_vector(), {1 - 0.05 / (0.5 + 1e-8), -1 + 0.2 / (2 + 1e-8), 0.5 - 0.3 / (3 + 1e-8)});
  test::check_close(opt.state(0)[0].to_vector(), {4 * (0.5 + 1e-8), 4 * (2 + 1e-8), 4 * (3 + 1e-8)});
  opt.update(0, w, nd::array<double>({1.0, 0.25, -4.0}));
  test::check_close(w.to_vector(), {0.820954923299, -0.910965884434, 0.470705726549}, 1e-10);
  test::check_close(opt.state(0)[0].to_vector(), {5.0604035896, 9.11919190483, 22.629001718}, 1e-10);
  test::check_close(opt.state(0)[1].to_vector(), {0.00124975, 0.0040585, 0.024991});
  test::check_close(opt.state(0)[2].to_vector(), {-4.15436324076, 8.30727271891, -10.6516006948}, 1e-10);
}
TEST_CASE("defaults as Gluon, state names, option errors; a rate of 0 is refused (FTML divides by it)") {
  optim::FTML opt;
  CHECK(opt.name() == "ftml");
  CHECK(opt.learning_rate() == 0.01);
  CHECK(opt.state_names() == std::vector<std::string>{"d", "v", "z"});
  CHECK_THROWS_WITH_AS(optim::FTML({.learning_rate = 0}), "ftml: learning_rate must be a finite number > 0, got 0",
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::FTML({.beta1 = 1}), "ftml: beta1 must be in [0, 1), got 1", ValueError);
  CHECK_THROWS_WITH_AS(optim::FTML({.epsilon = 0}), doctest::Contains("ftml: epsilon"), ValueError);
  optim::BasicFTML<double> frozen;
  auto w = nd::array<double>({1.0});
  CHECK_THROWS_WITH_AS(frozen.update(0, w, nd::array<double>({1.0}), /*lr_mult=*/0),
                       doctest::Contains("ftml: the learning rate (times lr_mult) must be > 0, got 0"), ValueError);
  CHECK(w.at(0) == 1.0);
  // The rule's condition, asked without updating anything (what a Trainer does for every
  // parameter before it updates the first).
  CHECK_THROWS_WITH_AS(frozen.check_step(0, 0.1), "ftml: the learning rate (times lr_mult) must be > 0, got 0 (FTML divides by it)",
                       ValueError);
  CHECK_NOTHROW(frozen.check_step(0.01, 0));
  CHECK(frozen.num_update() == 0);
  CHECK_FALSE(frozen.has_state(0));
}
TEST_CASE("by name: optim::create and Trainer") {
  CHECK(optim::create("FTML", {{"beta1", 0.5}})->name() == "ftml");
  test::check_trainer_matches("ftml", {{"learning_rate", 0.05}, {"wd", 0.1}, {"clip_gradient", 0.5}});
}
TEST_CASE("5 steps match the NumPy transcription of MXNet's ftml_update (optimizers.json)") {
  CHECK(test::check_optimizer_references("ftml") == 2);
}
}
