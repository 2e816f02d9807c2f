// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/nadam.hpp>

#include <doctest/doctest.h>

#include "support/check_close.hpp"
#include "support/optimizer_references.hpp"

#include <cmath>
#include <gluino/nd/creation.hpp>

using namespace gluino;

TEST_SUITE("optim/nadam") {
TEST_CASE("two steps by hand: the momentum schedule") {
  optim::BasicNadam<double> opt({.learning_rate = 0.1});
  auto w = nd::array<double>({1.0, -1.0, 0.5});
  auto mu = [](int k) { return 0.9 * (1 - 0.5 * std::pow(0.96, k * 0.004)); };
  CHECK(opt.momentum_at(1) == doctest::Approx(mu(1)).epsilon(1e-15));
  // t = 1: mean = 0.1 g, var = 0.001 g^2, sqrt(var / 0.001) = |g|;
  // w -= 0.1 * ((1 - mu1) g / (1 - mu1) + mu2 * 0.1 g / (1 - mu1 mu2)) / (|g| + 1e-8)
  const double step1 = 0.1 * (1 + mu(2) * 0.1 / (1 - mu(1) * mu(2)));
  opt.update(0, w, nd::array<double>({0.5, -2.0, 3.0}));
  test::check_close(w.to_vector(), {1 - step1, -1 + step1, 0.5 - step1}, 1e-7);
  test::check_close(w.to_vector(), {0.894354824277, -0.894354822693, 0.394354822517}, 1e-10);
  opt.update(0, w, nd::array<double>({1.0, 0.25, -4.0}));
  test::check_close(w.to_vector(), {0.798060090467, -0.901064246622, 0.474185261876}, 1e-10);
  test::check_close(opt.state(0)[0].to_vector(), {0.145, -0.155, -0.13});
  test::check_close(opt.state(0)[1].to_vector(), {0.00124975, 0.0040585, 0.024991});
}
TEST_CASE("the schedule goes by update count: parameters do not share it (MXNet's does), reset restarts it") {
  optim::BasicNadam<double> opt({.learning_rate = 0.1});
  auto a = nd::array<double>({1.0, -1.0}), b = a.copy();
  for (int s = 0; s < 3; ++s) {
    opt.update(0, a, nd::array<double>({0.5, -2.0}));
    opt.update(1, b, nd::array<double>({0.5, -2.0}));
  }
  CHECK(a.to_vector() == b.to_vector());
  const auto after3 = a.to_vector();
  opt.reset();
  auto c = nd::array<double>({1.0, -1.0});
  for (int s = 0; s < 3; ++s) opt.update(0, c, nd::array<double>({0.5, -2.0}));
  CHECK(c.to_vector() == after3);
}
TEST_CASE("states and counters restored into a new optimizer: it continues as the first would (no schedule state)") {
  optim::BasicNadam<double> first({.learning_rate = 0.1});
  auto w = nd::array<double>({1.0, -1.0});
  for (int s = 0; s < 3; ++s) first.update(0, w, nd::array<double>({0.5, -2.0}));
  optim::BasicNadam<double> second({.learning_rate = 0.1});
  second.set_states(first.states());
  second.set_update_counts(first.num_update(), first.index_update_count());
  auto v = w.copy();
  for (int s = 0; s < 2; ++s) {
    first.update(0, w, nd::array<double>({1.0, 0.25}));
    second.update(0, v, nd::array<double>({1.0, 0.25}));
  }
  CHECK(v.to_vector() == w.to_vector());
}
TEST_CASE("counters restored below begin_num_update: the schedule counts from 1, not an empty product (1 / 0)") {
  optim::BasicNadam<double> first({.learning_rate = 0.1});
  auto w = nd::array<double>({1.0, -1.0});
  for (int s = 0; s < 2; ++s) first.update(0, w, nd::array<double>({0.5, -2.0}));
  optim::BasicNadam<double> second({.learning_rate = 0.1, .begin_num_update = 5});
  second.set_states(first.states());
  second.set_update_counts(first.num_update(), first.index_update_count());  // t = 2, below 5
  auto v = w.copy();
  first.update(0, w, nd::array<double>({1.0, 0.25}));
  second.update(0, v, nd::array<double>({1.0, 0.25}));
  CHECK(std::isfinite(v.to_vector()[0]));
  CHECK(v.to_vector() == w.to_vector());
}
TEST_CASE("defaults as Gluon, state names, option errors") {
  optim::Nadam opt;
  CHECK(opt.name() == "nadam");
  CHECK(opt.learning_rate() == 0.001);
  CHECK(opt.state_names() == std::vector<std::string>{"mean", "var"});
  CHECK_THROWS_WITH_AS(optim::Nadam({.schedule_decay = -1}), "nadam: schedule_decay must be a finite number >= 0, got -1",
                       ValueError);
  CHECK_THROWS_WITH_AS(optim::Nadam({.beta2 = 1}), doctest::Contains("nadam: beta2"), ValueError);
  CHECK_THROWS_WITH_AS(optim::Nadam({.epsilon = 0}), doctest::Contains("nadam: epsilon"), ValueError);
}
TEST_CASE("by name: optim::create and Trainer") {
  CHECK(optim::create("nadam", {{"schedule_decay", 0.01}})->name() == "nadam");
  test::check_trainer_matches("nadam", {{"learning_rate", 0.01}, {"wd", 0.1}, {"clip_gradient", 0.2}});
}
TEST_CASE("5 steps match the NumPy transcription of MXNet's rule (optimizers.json)") {
  CHECK(test::check_optimizer_references("nadam") == 2);
}
}
