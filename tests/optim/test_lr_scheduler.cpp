// SPDX-License-Identifier: Apache-2.0
#include <gluino/optim/lr_scheduler.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

using namespace gluino;
using doctest::Approx;

TEST_SUITE("optim/lr_scheduler") {
TEST_CASE("FactorScheduler: decays every step updates, floored at stop_factor_lr") {
  optim::FactorScheduler s(2, {.factor = 0.5, .stop_factor_lr = 0.02, .base_lr = 0.1});
  CHECK(s(1) == Approx(0.1));
  CHECK(s(2) == Approx(0.1));
  CHECK(s(3) == Approx(0.05));
  CHECK(s(4) == Approx(0.05));
  CHECK(s(5) == Approx(0.025));
  CHECK(s(7) == Approx(0.02));
  CHECK(s(100) == Approx(0.02));
}
TEST_CASE("FactorScheduler: linear and constant warm-up") {
  optim::FactorScheduler lin(10, {.factor = 0.5, .base_lr = 1.0, .warmup_steps = 4, .warmup_begin_lr = 0.2});
  CHECK(lin(0) == Approx(0.2));
  CHECK(lin(2) == Approx(0.6));
  CHECK(lin(4) == Approx(1.0));
  optim::FactorScheduler cst(10, {.base_lr = 1.0, .warmup_steps = 4, .warmup_begin_lr = 0.2, .warmup_mode = "constant"});
  CHECK(cst(3) == Approx(0.2));
  CHECK(cst(4) == Approx(1.0));
}
TEST_CASE("MultiFactorScheduler: decays after each listed step") {
  optim::MultiFactorScheduler s({2, 5}, {.factor = 0.1, .base_lr = 1.0});
  CHECK(s(1) == Approx(1.0));
  CHECK(s(2) == Approx(1.0));
  CHECK(s(3) == Approx(0.1));
  CHECK(s(5) == Approx(0.1));
  CHECK(s(6) == Approx(0.01));
  CHECK(s(1000) == Approx(0.01));
}
TEST_CASE("CosineScheduler and PolyScheduler follow their formulas") {
  optim::CosineScheduler c(10, {.base_lr = 1.0, .final_lr = 0.1, .warmup_steps = 2});
  CHECK(c(1) == Approx(0.5));  // warm-up from 0 to 1 over 2 updates
  for (std::size_t t : {2, 5, 10})
    CHECK(c(t) == Approx(0.1 + 0.9 * (1 + std::cos(std::numbers::pi * (t - 2.0) / 8.0)) / 2));
  CHECK(c(50) == Approx(0.1));
  optim::PolyScheduler p(10, {.base_lr = 1.0, .pwr = 2, .final_lr = 0.0});
  CHECK(p(5) == Approx(0.25));
  CHECK(p(10) == Approx(0.0));
}
TEST_CASE("OneCycleScheduler: up to the peak, down to the floor") {
  optim::OneCycleScheduler s(10, {.base_lr = 1.0, .pct_start = 0.3, .div_factor = 10, .final_div_factor = 100,
                                  .anneal = "linear"});
  CHECK(s(0) == Approx(0.1));
  CHECK(s(3) == Approx(1.0));
  CHECK(s(10) == Approx(0.001));
  CHECK(s(20) == Approx(0.001));
  CHECK(s(1) == Approx(0.1 + 0.9 / 3));
  optim::OneCycleScheduler cos_s(10, {.base_lr = 1.0, .pct_start = 0.5});
  CHECK(cos_s(5) == Approx(1.0));
  CHECK(cos_s(0) == Approx(1.0 / 25));
}
TEST_CASE("bad arguments are ValueErrors") {
  CHECK_THROWS_AS(optim::FactorScheduler(0), ValueError);
  CHECK_THROWS_WITH_AS(optim::FactorScheduler(1, {.factor = 2}), doctest::Contains("factor"), ValueError);
  CHECK_THROWS_WITH_AS(optim::MultiFactorScheduler({3, 3}), doctest::Contains("increase"), ValueError);
  CHECK_THROWS_AS(optim::CosineScheduler(10, {.base_lr = 0.1, .final_lr = 0.2}), ValueError);
  CHECK_THROWS_AS(optim::FactorScheduler(1, {.warmup_mode = "exp"}), ValueError);
  CHECK_THROWS_AS(optim::FactorScheduler(1, {.base_lr = 0.1, .warmup_begin_lr = 0.5}), ValueError);
  CHECK_THROWS_AS(optim::OneCycleScheduler(10, {.pct_start = 1.5}), ValueError);
}
}
