// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/optimizer.hpp>

#include <doctest/doctest.h>

#include <gluino/nd/creation.hpp>
#include <gluino/optim/sgd.hpp>

using namespace gluino;

TEST_SUITE("optim/optimizer") {
TEST_CASE("counters: per index and num_update, from begin_num_update") {
  optim::BasicSGD<double> opt({.begin_num_update = 10});
  auto w = nd::zeros<double>({2}), g = nd::ones<double>({2});
  CHECK(opt.num_update() == 10);
  opt.update(0, w, g);
  opt.update(1, w, g);
  opt.update(0, w, g);
  CHECK(opt.index_update_count().at(0) == 12);
  CHECK(opt.index_update_count().at(1) == 11);
  CHECK(opt.num_update() == 12);
}
TEST_CASE("a scheduler drives the rate and takes the optimizer's learning_rate as base_lr") {
  auto sched = std::make_shared<optim::FactorScheduler>(1, optim::FactorSchedulerOptions{.factor = 0.5});
  optim::BasicSGD<double> opt({.learning_rate = 1.0, .lr_scheduler = sched});
  CHECK(sched->base_lr() == 1.0);
  auto w = nd::zeros<double>({1}), g = nd::ones<double>({1});
  opt.update(0, w, g);  // num_update 1: lr 1
  opt.update(0, w, g);  // num_update 2: lr 0.5
  CHECK(w.at(0) == doctest::Approx(-1.5));
  CHECK(opt.learning_rate() == doctest::Approx(0.5));
  CHECK_THROWS_WITH_AS(opt.set_learning_rate(0.1), doctest::Contains("lr_scheduler"), StateError);
  opt.set_lr_scheduler(nullptr);
  opt.set_learning_rate(0.1);
  CHECK(opt.learning_rate() == 0.1);
}
TEST_CASE("states() names states; set_states restores copies") {
  optim::BasicSGD<double> opt({.momentum = 0.9});
  auto w = nd::zeros<double>({2}), g = nd::ones<double>({2});
  opt.update(3, w, g);
  auto st = opt.states();
  REQUIRE(st.count("3.mom") == 1);
  CHECK(st.at("3.mom").to_vector() == std::vector<double>{-0.01, -0.01});
  optim::BasicSGD<double> other({.momentum = 0.9});
  other.set_states(st);
  other.set_update_counts(opt.num_update(), opt.index_update_count());
  CHECK(other.state(3)[0].to_vector() == st.at("3.mom").to_vector());
  CHECK(other.state(3)[0].data() != st.at("3.mom").data());
  CHECK_THROWS_WITH_AS(other.set_states({{"3.velocity", nd::zeros<double>({2})}}), doctest::Contains("velocity"), ValueError);
  CHECK_THROWS_WITH_AS(other.set_states({{"x.mom", nd::zeros<double>({2})}}), doctest::Contains("x.mom"), ValueError);
}
TEST_CASE("errors: weight and grad shapes differ, a loaded state of the wrong shape, missing state") {
  optim::BasicSGD<double> opt({.momentum = 0.9});
  auto w = nd::zeros<double>({2, 3});
  CHECK_THROWS_WITH_AS(opt.update(0, w, nd::zeros<double>({3, 2})), doctest::Contains("(2, 3) and grad of shape (3, 2)"),
                       ShapeError);
  opt.set_states({{"0.mom", nd::zeros<double>({4})}});
  CHECK_THROWS_WITH_AS(opt.update(0, w, nd::zeros<double>({2, 3})), doctest::Contains("(4,)"), ShapeError);
  CHECK_THROWS_AS(opt.state(9), StateError);
}
TEST_CASE("steady-state updates keep the weight and state storage") {
  optim::BasicSGD<float> opt({.momentum = 0.9});
  auto w = nd::zeros<float>({4}), g = nd::ones<float>({4});
  opt.update(0, w, g);
  const float* mom = opt.state(0)[0].data();
  const float* wp = w.data();
  opt.update(0, w, g);
  CHECK(opt.state(0)[0].data() == mom);
  CHECK(w.data() == wp);
}
}
